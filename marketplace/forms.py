import zoneinfo

from django import forms

from marketplace.models import Modality, Role, Site, Vendor

TIME_ZONES = sorted(zoneinfo.available_timezones())


class InviteForm(forms.Form):
    email = forms.EmailField(label="E-mail address")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.TECHNOLOGIST)


class SiteForm(forms.Form):
    name = forms.CharField(max_length=200)
    city = forms.CharField(max_length=120, required=False)
    time_zone = forms.ChoiceField(
        choices=[(tz, tz) for tz in TIME_ZONES], initial="Europe/Brussels"
    )


class ScannerForm(forms.Form):
    site = forms.ModelChoiceField(queryset=Site.objects.none())
    name = forms.CharField(max_length=100, help_text="What the staff call it, e.g. MR 2.")
    modality = forms.ChoiceField(choices=Modality.choices)
    vendor = forms.ChoiceField(choices=Vendor.choices)
    model_name = forms.CharField(max_length=120, label="Model")
    field_strength_tesla = forms.DecimalField(
        max_digits=4, decimal_places=2, required=False, label="Field strength (T)"
    )
    cockpit_ready = forms.BooleanField(required=False, label="Cockpit-ready")

    def __init__(self, *args: object, hospital_id: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["site"].queryset = Site.objects.filter(hospital_id=hospital_id)  # type: ignore[attr-defined]


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
