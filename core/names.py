"""People's names in free text, in Dutch, French, English and German: `person_name_found(text)`.

A note about the work names no one: "Mevrouw Els Peeters, claustrofobie" or "jan janssens moet
nuchter blijven" identifies the patient as surely as a register number does. Notes are also full
of capitalised words that are not people (Siemens MAGNETOM Vida, Gadovist, AZ Delta, Sint-Jan,
FLAIR, Leuven, Maandag), and some first names are ordinary words ("will", "may", "roos"). So a
name counts only in one of these shapes:

- after an honorific (Mevrouw, Mevr., Dhr., De heer, Madame, Mme, M., Mr, Mrs, Ms, Frau, Herr,
  Fr., Hr. ...), a patient word ("patiënt", "patiente", "Patientin", "pt") or a label
  ("Naam:", "Nom :", "Name:", "Prénom", "Nachname:" ...);
- as a first name and a surname side by side, in either order and in any case ("Jan Janssens",
  "jan janssens", "JANSSENS JAN", "Marleen Van Damme");
- as an initial and a surname ("J. Janssens").

Which words are first names and surnames comes from core/data/person_names.txt.gz, derived from
the names-dataset package by scripts/person_names.py (how and why there). A name that is also an
ordinary word counts beside another name only when it is written as a name (capitalised), and
two such words together ("Will May", "Rose Hall") only away from the start of a sentence,
unless the first is a common first name ("john smith", "Mark White": WORDLIKE_FIRST_NAMES).
A full name beside an institution word ("Jeroen Bosch Ziekenhuis", "Clinique Louis Caty", "AZ
Monica") or known as a hospital (HOSPITAL_NAMES) is a place, unless a cue announces it. The
words below (vendors, products, contrast agents, sequences, hospitals, towns, days, months, body
parts, jobs) are the work's own vocabulary: never a name, or a name only after an honorific.

Linear in the text: one split into words (a single character class, which cannot backtrack), one
dictionary look-up per word, and a few look-ups around each word that is a name. The names are
read on the first check (about 50 ms) and then held once per process (about 15 MB resident,
120,000 words).
"""

import functools
import gzip
import re
from itertools import compress
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "person_names.txt.gz"

FIRST, SURNAME, WORD = 1, 2, 4  # bits of a known name: a first name, a surname, an ordinary word
# Bits of the words that announce a name: an honorific, a weak one ("Mr", "M."), the "heer" of
# "de heer", a patient word, a label.
HONORIFIC, WEAK, HEER, PATIENT, LABEL = 8, 16, 32, 64, 128
CUES = HONORIFIC | WEAK | HEER | PATIENT | LABEL
WORK = 256  # one of the work's ordinary words (WORK_WORDS): a name only after a cue


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Honorifics that always announce a person, in any case.
HONORIFICS = _words(
    "mevrouw mevr mw mvr meneer mijnheer dhr juffrouw madame mme mmes monsieur mlle melle "
    "mademoiselle mrs frau herr herrn sig signora signor"
)
# Honorifics that are also other things ("MR" is magnetic resonance, "MS" multiple sclerosis,
# "ms" milliseconds, "M" a size, "Fr." a franc): they count only written as honorifics, and
# only before a known name.
WEAK_HONORIFICS = {"Mr": "", "mr": "", "Ms": "", "Miss": "", "M": ".", "Fr": ".", "Hr": "."}
PATIENT_WORDS = _words("patient patiënt patiente patiënte patientin patiëntje pt pte")
LABELS = _words(
    "naam voornaam achternaam familienaam nom prénom prenom name vorname nachname familienname "
    "surname forename firstname lastname"
)
TITLES = _words("dr dokter docteur doctor doktor prof professor")
PARTICLES = _words(
    "van de der den het ter ten te vande vanden vander vd le la les du des d l da di del della "
    "dos das do von vom zu zum zur mac mc o al el ben bin ibn abu"
)
SAINTS = _words("sint saint sainte sankt st ste san santa heilig")

# A full name beside one of these is a place named after someone ("Jan Yperman ziekenhuis",
# "Clinique Louis Caty", "AZ Monica", "Victor Horta campus", "Paola Ruffo wing"), not a patient.
INSTITUTIONS = _words(
    "ziekenhuis ziekenhuizen gasthuis kliniek klinieken kinderziekenhuis hospitaal hospital "
    "hospitals hôpital hopital hôpitaux clinique cliniques clinic clinics krankenhaus klinik "
    "klinikum kliniken spital centrum center centre zentrum instituut institut institute campus "
    "site wing vleugel aile flügel paviljoen pavillon polikliniek poli mc umc amc building "
    "gebouw bâtiment gebäude entrance ingang entrée eingang "
    "az uz chu chr gza zna zol azm ziv mmc etz ikazia chirec hul uza uzg"
)
# Belgian and Dutch hospitals and campuses named after a person, first name and surname (the
# particles left out, as the check skips them). Hand-written from the hospital lists of the FOD
# Volksgezondheid (Belgium) and of Wikipedia's "Lijst van ziekenhuizen in België" and "... in
# Nederland", with two German ones from the trial. A patient with such a name is named with
# an honorific, a label or a patient word, which still count.
HOSPITAL_NAMES = frozenset(
    tuple(pair.split())
    for pair in (
        "jan yperman",
        "jan palfijn",
        "jan portaels",
        "jeroen bosch",
        "albert schweitzer",
        "jules bordet",
        "maria middelares",
        "henri serruys",
        "paul brien",
        "victor horta",
        "louis caty",
        "marie curie",
        "andré vésale",
        "andre vesale",
        "ambroise paré",
        "ambroise pare",
        "antoni leeuwenhoek",
        "reinier graaf",
        "jan goyen",
        "vincent gogh",
        "martin luther",
        "elisabeth tweesteden",
        "paola ruffo",
    )
)

# Never a name: the work's own proper nouns, and the words that announce a name.
NOT_NAMES = (
    HONORIFICS
    | PATIENT_WORDS
    | LABELS
    | TITLES
    | SAINTS
    | INSTITUTIONS
    | {word.casefold() for word in WEAK_HONORIFICS}
    | _words(
        # vendors and their MR systems
        "siemens healthineers philips ge canon toshiba hitachi fujifilm esaote bruker united "
        "imaging magnetom vida sola skyra prisma aera avanto altea lumina verio trio espree amira "
        "symphony harmony essenza ingenia ambition achieva elition evolution intera multiva "
        "panorama signa premier architect pioneer artist hero explorer voyager discovery optima "
        "creator vantage orian galan titan elan echelon oval airis aperto lucent"
        # contrast agents and drugs of the MR room
        " gadovist gadavist dotarem clariscan multihance prohance primovist eovist omniscan "
        "magnevist artirem elucirem vueway cyclolux buscopan glucagon lorazepam midazolam "
        "dormicum temesta propofol gadolinium gadobutrol adenosine adenosin adénosine regadenoson"
        # sequences and techniques
        " dwi flair swi tse fse epi blade propeller mavric semac dixon vibe space cube tof haste "
        "trufi fiesta mprage lava star stir dti bold asl mra mrcp"
        # hospitals, networks and campuses
        " az uz chu chr chirec hul uza uzg cub erasme jolimont gasthuisberg jessa groeninge delta "
        "rumbeke sart salvator augustinus vincentius middelheim stuivenberg "
        "bordet brugmann helora vivalia epicura humani godinne"
    )
)

# Names, but also the work's ordinary words: a name only after an honorific or a label.
WORK_WORDS = _words(
    # days and months, four languages
    "maandag dinsdag woensdag donderdag vrijdag zaterdag zondag lundi mardi mercredi jeudi "
    "vendredi samedi dimanche monday tuesday wednesday thursday friday saturday sunday montag "
    "dienstag mittwoch donnerstag freitag samstag sonntag januari februari maart april mei juni "
    "juli augustus september oktober november december janvier février fevrier mars avril mai "
    "juin juillet août aout septembre octobre novembre décembre january february march may june "
    "july august october januar februar märz juli dezember"
    # Belgian towns and neighbouring cities, in their languages
    " antwerpen anvers gent gand brugge bruges brussel bruxelles brussels leuven louvain liège "
    "luik lüttich namur namen charleroi mons bergen tournai doornik kortrijk courtrai hasselt "
    "genk mechelen malines aalst alost oostende ostende roeselare eupen ottignies "
    "wavre waver nivelles nijvel arlon aarlen verviers seraing mouscron moeskroen turnhout "
    "geel lier dendermonde ninove ieper ypres knokke bonheiden wilrijk jette ukkel uccle "
    "etterbeek anderlecht ixelles elsene woluwe schaerbeek schaarbeek vith namen libramont "
    "dinant huy hoei marche bastogne lommel tienen tirlemont diest aarschot vilvoorde zaventem "
    "maastricht lille rijsel aachen aken luxembourg luxemburg"
    # body parts and exams
    " hoofd hersenen knie schouder heup enkel pols rug nek borst hart lever prostaat bekken "
    "tête cerveau genou épaule hanche cheville poignet dos cou sein coeur cœur foie bassin "
    "head brain knee shoulder hip ankle wrist spine neck breast heart liver pelvis kopf knie "
    "schulter hüfte sprunggelenk handgelenk wirbelsäule hals brust herz leber becken"
    # the staff and their work
    " technoloog technologue technologist radiographer radioloog radiologue radiologist "
    "radiologe verpleegkundige infirmier infirmière nurse pflege anesthesist anesthésiste "
    "anaesthetist anästhesist cardioloog cardiologue cardiologist kardiologe coördinator "
    "coordinateur coordinator koordinator manager hoofdtechnoloog mtra mtr spoel antenne coil "
    "spule scanner protocol protocole protokoll contrast kontrast sedatie sédation sedation "
    "sedierung campus parking"
)

# First names common in Belgium that names-dataset lacks (checked against Statbel's
# "Voornamen van pasgeborenen" and the Meertens Instituut's Nederlandse Voornamenbank top lists).
EXTRA_FIRST_NAMES = _words("noor ona")

# Common first names that are also ordinary words ("john", "mark", "rose", "tom", "martin"):
# followed by a surname, in the same case, they name someone even in lower case or at a
# sentence's start ("john smith keeps moving", "Mark White is anxious"). Hand-written from the
# most given names in Belgium (Statbel), the Netherlands (Meertens Instituut), England (ONS) and
# France (INSEE) that the data marks as words. Not "will", "may", "can": verbs before almost
# anything.
WORDLIKE_FIRST_NAMES = _words(
    "john jack james peter paul mark tom tim bill bob rob robin frank grant dean victor albert "
    "louis martin jan piet kris ward dirk bart luc marc rose lily daisy iris ruby grace hope "
    "amber jade pearl olive dawn roos lotte"
)

# Words of letters: two or more, or a capital alone (an initial: "J. Janssens", "M. Dupont"); a
# lone small letter stays in the separator. Two character classes, nothing nested: linear.
_WORD = re.compile(r"([^\W\d_]{2,}|[A-Z])")


def _capitalised(word: str) -> bool:
    """Written as a name: "Peeters", "PEETERS" (not "peeters", nor a 1- or 2-letter acronym)."""
    return word[0].isupper() and (not word.isupper() or len(word) > 2)


def _title(word: str) -> bool:
    """ "Peeters", not "PEETERS": what an unknown word looks like when it is a name."""
    return word[0].isupper() and not word.isupper()


_SENTENCE_MARKS = frozenset(".!?:;\n•–")


def _starts_sentence(separator: str) -> bool:
    return not _SENTENCE_MARKS.isdisjoint(separator) or separator.strip() == "-"


@functools.cache
def person_names() -> dict[str, int]:
    """Each word the check reacts to, in lower case, and its bits, read once on the first check:
    the names of the data file less the work's own proper nouns (NOT_NAMES), the work's ordinary
    words marked as such, and the words that announce a name."""
    names: dict[str, int] = {}
    lines = gzip.decompress(DATA.read_bytes()).decode().splitlines()
    for line in lines[1:]:  # the first line records the inputs
        token, kind = line.split("\t")
        if token not in NOT_NAMES:
            names[token] = (
                (FIRST if "F" in kind else 0)
                | (SURNAME if "S" in kind else 0)
                | (WORD if "~" in kind or token in WORK_WORDS else 0)
                | (WORK if token in WORK_WORDS else 0)
            )
    for token in EXTRA_FIRST_NAMES:
        if token not in NOT_NAMES:
            names[token] = names.get(token, 0) | FIRST
    for words, bit in (
        (HONORIFICS, HONORIFIC),
        ({word.casefold() for word in WEAK_HONORIFICS}, WEAK),
        ({"heer"}, HEER),
        (PATIENT_WORDS, PATIENT),
        (LABELS, LABEL),
    ):
        for word in words:
            names[word] = bit
    return names


_SKIPPED = TITLES | PARTICLES  # between an honorific and a name, or a first name and a surname


def person_name_found(text: str) -> bool:
    """Does `text` name a person? See the module's docstring for what counts."""
    parts = _WORD.split(text or "")
    words = parts[1::2]  # the words; parts[2 * i] is what comes before word i
    if not words:
        return False
    folded = list(map(str.casefold, words))
    bits = list(map(person_names().get, folded))
    count = len(words)

    def name_bits(i: int) -> int:
        """Word i's name bits; 0 when it is not a name here."""
        found = bits[i]
        if not found or found & CUES:
            return 0
        if i and folded[i - 1] in SAINTS and parts[2 * i].strip() in ("", "-", "."):
            return 0  # Sint-Jan, Saint-Luc, St. Nikolaus: a place
        return found

    def after(i: int, allowed: str) -> int | None:
        """The first word after word i past titles and particles ("Dr", "Van den"), if only
        `allowed` characters separate them."""
        j = i + 1
        while j < count and not parts[2 * j].strip(allowed):
            if folded[j] not in _SKIPPED:
                return j
            j += 1
        return None

    def named_after(i: int, *, strong: bool, allowed: str = " .'’") -> bool:
        """Is there a name right after the honorific, patient word or label at word i?"""
        j = after(i, allowed)
        if j is None:
            return False
        found = name_bits(j)
        if found:  # "Mevrouw Peeters", "meneer vermeulen"; "Mevrouw Roos", not "mevrouw is"
            return not found & WORD or _capitalised(words[j])
        # "Mevrouw Xhonneux": a name the data lacks
        return strong and not bits[j] and folded[j] not in NOT_NAMES and _title(words[j])

    def labelled(i: int) -> bool:
        """ "Naam: Peeters", "Nom du patient : Amrani", "Name des Patienten: Demir"."""
        for k in range(i, min(i + 3, count)):
            if ":" in parts[2 * k + 2]:
                return named_after(k, strong=True, allowed=" .'’:")
        return False

    def full_name(i: int, a: int) -> bool:
        """Is word i (a name: bits `a`) followed by the other half ("Jan (Van) Janssens")?"""
        j = i + 1  # close by: the caller saw to it
        if folded[j] in _SKIPPED:
            past = after(i, " '’")  # past "Van den", or none
            if past is None:
                return False
            j = past
        b = name_bits(j)
        if not b or (a | b) & WORK:  # "Monica Antwerpen": a town is no surname beside a name
            return False
        if not ((a & FIRST and b & SURNAME) or (a & SURNAME and b & FIRST)) or place(i, j):
            return False
        plain_a, plain_b = not a & WORD, not b & WORD
        if plain_a and plain_b:
            return True
        first, second = words[i], words[j]
        if not plain_a and not plain_b:
            # "JOHN SMITH", or "Will May" mid-sentence: a capital at a sentence's start says nothing
            if first.isupper() and second.isupper():
                return len(first) > 2 and len(second) > 2
            if (
                folded[i] in WORDLIKE_FIRST_NAMES
                and b & SURNAME
                and len(second) > 2
                and ((first.islower() and second.islower()) or (_title(first) and _title(second)))
            ):
                return True  # "john smith", "Mark White keeps moving": a first name, then a surname
            titled = _title(first) and _title(second)
            return titled and not (i == 0 or _starts_sentence(parts[2 * i]))
        return _capitalised(second if plain_a else first) or (first.islower() and second.islower())

    def place(i: int, j: int) -> bool:
        """Is the full name of words i and j a place named after someone: a hospital known by
        that name, or a name right after or before an institution word ("AZ Monica", "Clinique
        Louis Caty", "Jan Yperman ziekenhuis", "Victor Horta campus")?"""
        if (folded[i], folded[j]) in HOSPITAL_NAMES:
            return True
        if i and folded[i - 1] in INSTITUTIONS and not parts[2 * i].strip(" -"):
            return True
        return j + 1 < count and folded[j + 1] in INSTITUTIONS and not parts[2 * j + 2].strip(" -")

    def initial_and_surname(i: int, found: int) -> bool:
        """ "J. Janssens": word i - 1 is a single letter."""
        return bool(
            words[i - 1].isupper()
            and parts[2 * i].strip() == "."
            and found & SURNAME
            and not found & WORD
            and _title(words[i])
        )

    for i in compress(range(count), bits):  # only the words the check reacts to
        found = bits[i] or 0
        if found & CUES:
            if found & HONORIFIC or (found & HEER and i and folded[i - 1] == "de"):
                if named_after(i, strong=True):
                    return True
            elif found & WEAK:
                weak = WEAK_HONORIFICS.get(words[i])
                if (
                    weak is not None
                    and parts[2 * i + 2].startswith(weak)
                    and named_after(i, strong=False)
                ):
                    return True
            elif found & PATIENT and ":" not in parts[2 * i + 2]:
                if named_after(i, strong=False):
                    return True
            elif found & (PATIENT | LABEL) and labelled(i):
                return True
            continue
        if i + 1 < count and not parts[2 * i + 2].strip(" '’"):  # a word follows closely
            found = name_bits(i)
            if found and full_name(i, found):
                return True
        if i and len(words[i - 1]) == 1 and initial_and_surname(i, name_bits(i)):
            return True
    return False
