"""Forms. Errors re-render the form fragment with status 200 so htmx swaps them in."""

from __future__ import annotations

from django import forms
from django.conf import settings

from .layouts import PRESETS
from .models import Character
from .services import MAX_CANDIDATES, MIN_CANDIDATES


class BriefForm(forms.ModelForm):
    class Meta:
        model = Character
        fields = ["brief", "wardrobe", "distinguishing_marks", "hand_props"]
        widgets = {
            "brief": forms.Textarea(attrs={"rows": 4}),
            "wardrobe": forms.Textarea(attrs={"rows": 2}),
            "distinguishing_marks": forms.Textarea(attrs={"rows": 2}),
            "hand_props": forms.Textarea(attrs={"rows": 2}),
        }
        error_messages = {
            "brief": {
                "required": "Describe the person: the casting model needs a brief to work from.",
                "max_length": "Keep the brief under %(limit_value)d characters (it has %(show_value)d).",
            },
        }

    def clean_brief(self) -> str:
        brief = self.cleaned_data["brief"].strip()
        if not brief:
            raise forms.ValidationError(
                "Describe the person: the casting model needs a brief to work from."
            )
        return brief


class NewCharacterForm(BriefForm):
    class Meta(BriefForm.Meta):
        fields = ["name", *BriefForm.Meta.fields]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the character a name.")
        return name


class CastForm(forms.Form):
    count = forms.IntegerField(
        label="Candidates",
        initial=4,
        min_value=MIN_CANDIDATES,
        max_value=MAX_CANDIDATES,
        error_messages={
            "min_value": f"Cast at least {MIN_CANDIDATES} candidate.",
            "max_value": f"Cast at most {MAX_CANDIDATES} candidates at a time.",
            "invalid": "Enter a whole number of candidates.",
            "required": "Say how many candidates to cast.",
        },
    )


class UnlockForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        widget=forms.TextInput(attrs={"placeholder": "Why unlock? (kept in the history)"}),
        error_messages={"required": "Say why the face is being unlocked."},
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why the face is being unlocked.")
        return reason


class SheetForm(forms.Form):
    count = forms.IntegerField(
        label="Options",
        initial=4,
        min_value=1,
        max_value=8,
        error_messages={
            "min_value": "Make at least 1 sheet option.",
            "max_value": "Make at most 8 sheet options at a time.",
            "invalid": "Enter a whole number of options.",
            "required": "Say how many sheet options to make.",
        },
    )
    preset = forms.ChoiceField(label="Layout", choices=())

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["preset"].choices = [(p.name, p.label) for p in PRESETS.values()]
        self.fields["preset"].initial = settings.TURNAROUND_SHEET_PRESET


class PanelBoxForm(forms.Form):
    x = forms.IntegerField(min_value=0)
    y = forms.IntegerField(min_value=0)
    w = forms.IntegerField(min_value=1)
    h = forms.IntegerField(min_value=1)
