"""The exam families a posting can require, and the ISO 639-1 languages, as starting
vocabularies. Admins add to the exam families later; this migration never removes any."""

from django.db import migrations

EXAM_FAMILIES = [
    ("neuro", "Neuro"),
    ("msk", "Musculoskeletal (MSK)"),
    ("cardiac", "Cardiac"),
    ("abdominal", "Abdominal"),
    ("pelvis-prostate", "Pelvis / prostate"),
    ("breast", "Breast"),
    ("paediatric", "Paediatric"),
    ("angiography", "Angiography"),
    ("whole-body", "Whole-body"),
    ("head-neck", "Head and neck"),
    ("spine", "Spine"),
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
