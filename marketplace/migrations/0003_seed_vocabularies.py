"""The exam families a posting can require, and the ISO 639-1 languages, as starting
vocabularies. Admins add to the exam families later; this migration never removes any."""

from django.db import migrations
from django.utils.translation import gettext_noop

# The names stay English in the database; gettext_noop puts them in the catalogues, and
# ExamFamily.label shows them in the reader's language.

EXAM_FAMILIES = [
    ("neuro", gettext_noop("Neuro")),
    ("msk", gettext_noop("Musculoskeletal (MSK)")),
    ("cardiac", gettext_noop("Cardiac")),
    ("abdominal", gettext_noop("Abdominal")),
    ("pelvis-prostate", gettext_noop("Pelvis / prostate")),
    ("breast", gettext_noop("Breast")),
    ("paediatric", gettext_noop("Paediatric")),
    ("angiography", gettext_noop("Angiography")),
    ("whole-body", gettext_noop("Whole-body")),
    ("head-neck", gettext_noop("Head and neck")),
    ("spine", gettext_noop("Spine")),
]


def seed(apps, schema_editor):
    import pycountry

    ExamFamily = apps.get_model("marketplace", "ExamFamily")
    Language = apps.get_model("marketplace", "Language")
    for position, (code, name) in enumerate(EXAM_FAMILIES):
        ExamFamily.objects.get_or_create(code=code, defaults={"name": name, "position": position})
    for language in pycountry.languages:
        code = getattr(language, "alpha_2", None)
        if code:
            name = language.name.split(";")[0].split(" (")[0]
            Language.objects.update_or_create(code=code, defaults={"name": name})


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0002_technologists_and_postings")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
