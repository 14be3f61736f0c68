"""The admin's forms to train a model and to run a sweep.

Each hyperparameter of any architecture gets an input of its own, built from the schema in
``training.hyperparameters``, so the defaults and ranges are shown where a person types.
``hpml/hyperparameters.js`` hides those the chosen architecture lacks; without it all show,
and an empty one the architecture lacks is ignored.
"""

import json
import re
from typing import NamedTuple

from django import forms

from .training.hyperparameters import (
    ARCHITECTURES,
    Choice,
    HyperparameterError,
    Param,
    resolve_hyperparameters,
)
from .training.sweep_space import DEFAULT_METRIC, MAX_VALUES, METRICS


def _schema() -> dict[str, tuple[Param | Choice, tuple[str, ...]]]:
    """Every hyperparameter of any architecture, in the schema's order (the common ones
    first), with the architectures that take it."""
    found: dict[str, tuple[Param | Choice, list[str]]] = {}
    for architecture, params in ARCHITECTURES.items():
        for name, spec in params.items():
            found.setdefault(name, (spec, []))[1].append(architecture)
    return {name: (spec, tuple(archs)) for name, (spec, archs) in found.items()}


HYPERPARAMETERS = _schema()
RUN_FIELDS = ("experiment", "model_name", "architecture")


def _shown(value: object) -> str:
    """A number as a person writes it: 0.001, 1e-06, 20."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _train_field(name: str, spec: Param | Choice) -> forms.Field:
    # A CharField, not an IntegerField or a ChoiceField: the schema's own check (in clean)
    # gives the message, the same one the API and the commands give.
    if isinstance(spec, Choice):
        options = [("", f"default ({spec.default})"), *((c, c) for c in spec.choices)]
        widget = forms.Select(choices=options)
        limits = f"default {spec.default}"
    else:
        low, high = _shown(spec.minimum), _shown(spec.maximum)
        step = "1" if spec.kind is int else "any"
        placeholder = _shown(spec.default)
        attrs = {"min": low, "max": high, "step": step, "placeholder": placeholder}
        widget = forms.NumberInput(attrs=attrs)
        limits = f"default {placeholder}, from {low} to {high}"
    return forms.CharField(
        label=name, required=False, widget=widget, help_text=f"{spec.help} ({limits})"
    )


def _sweep_field(name: str, spec: Param | Choice) -> forms.Field:
    if isinstance(spec, Choice):
        limits = f"one of {', '.join(spec.choices)}"
    else:
        limits = f"from {_shown(spec.minimum)} to {_shown(spec.maximum)}"
    return forms.CharField(
        label=name,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _shown(spec.default)}),
        help_text=f"{spec.help} ({limits}; default {_shown(spec.default)})",
    )


class Fieldset(NamedTuple):
    """A group of a form's fields as the template shows it."""

    name: str
    description: str
    fields: list
    advanced: bool = False  # folded away unless it holds a value or an error

    @property
    def open(self) -> bool:
        return any(field.errors or field.value() for field in self.fields)


class _HyperparameterForm(forms.Form):
    """A form with an input per hyperparameter, ``<field_prefix><name>``, after the
    architecture, and the whole of them as JSON in ``json_field`` for what the inputs
    cannot say."""

    field_prefix = ""
    json_field = ""
    legend = ""
    description = ""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, (spec, architectures) in HYPERPARAMETERS.items():
            field = self.make_field(name, spec)
            field.architectures = " ".join(architectures)  # read by the template, for the JS
            self.fields[self.field_prefix + name] = field
        self.order_fields([*RUN_FIELDS, *(self.field_prefix + n for n in HYPERPARAMETERS)])

    def make_field(self, name: str, spec: Param | Choice) -> forms.Field:
        raise NotImplementedError

    def fieldsets(self) -> list[Fieldset]:
        """The run, its hyperparameters, the other options, then the JSON."""
        named = [name for name in self.fields if name.startswith(self.field_prefix)]
        others = set(self.fields) - set(named) - {*RUN_FIELDS, self.json_field}
        return [
            Fieldset("", "", [self[name] for name in RUN_FIELDS]),
            Fieldset(self.legend, self.description, [self[name] for name in named]),
            Fieldset("Options", "", [self[name] for name in self.fields if name in others]),
            Fieldset("Advanced", "", [self[self.json_field]], advanced=True),
        ]

    def typed(self, architecture: str):
        """(input name, hyperparameter, its spec, text) of each input given a value.

        A value for a hyperparameter the architecture lacks is refused on its input, not
        dropped: the person meant something by it.
        """
        params = ARCHITECTURES[architecture]
        for name, (spec, _) in HYPERPARAMETERS.items():
            key = self.field_prefix + name
            text = self.cleaned_data.get(key, "")
            if not text:
                continue
            if name in params:
                yield key, name, spec, text
            else:
                self.add_error(key, f"{architecture} has no {name}")

    def refused_an_input(self) -> bool:
        return any(self.has_error(self.field_prefix + name) for name in HYPERPARAMETERS)


class TrainForm(_HyperparameterForm):
    experiment = forms.SlugField(max_length=100, help_text="Made on first use.")
    model_name = forms.SlugField(
        max_length=100, help_text="The registered model that gets the new version."
    )
    architecture = forms.ChoiceField(choices=[(a, a) for a in sorted(ARCHITECTURES)])
    hyperparameters = forms.CharField(
        label="More as JSON",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text='E.g. {"epochs": 30, "learning_rate": 0.001}; a value in an input above '
        "wins over the same one here.",
    )

    field_prefix = "hp_"
    json_field = "hyperparameters"
    legend = "Hyperparameters"
    description = "Empty: the default. Only those of the chosen architecture are used."

    def make_field(self, name, spec):
        return _train_field(name, spec)

    def clean_hyperparameters(self) -> dict:
        return _json_object(self.cleaned_data["hyperparameters"])

    def clean(self) -> dict:
        """``hyperparameters``: the values given, the inputs' over the JSON's, checked as a run
        would check them; defaults are left to the run."""
        data = super().clean()
        architecture, extra = data.get("architecture"), data.get("hyperparameters")
        if architecture is None:
            return data
        given = {}
        for key, name, spec, text in self.typed(architecture):
            try:
                given[name] = spec.coerce(name, text)
            except HyperparameterError as exc:
                self.add_error(key, str(exc))
        if extra is None or self.refused_an_input():
            return data
        merged = {**extra, **given}
        try:
            resolve_hyperparameters(architecture, merged)
        except HyperparameterError as exc:
            self.add_error(self._blamed(str(exc), given, extra), str(exc))
        else:
            data["hyperparameters"] = merged
        return data

    def _blamed(self, message: str, given: dict, extra: dict) -> str | None:
        """The input to show an error on: the first hyperparameter it names that an input
        gave, else the JSON if it gave any, else the form."""
        for name in _names_in(message):
            if name in given:
                return self.field_prefix + name
        return self.json_field if extra else None


class SweepForm(_HyperparameterForm):
    experiment = forms.SlugField(max_length=100, help_text="Made on first use.")
    model_name = forms.SlugField(
        max_length=100, help_text="The registered model that the best run is registered into."
    )
    architecture = forms.ChoiceField(choices=[(a, a) for a in sorted(ARCHITECTURES)])
    space = forms.CharField(
        label="Space as JSON",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text="Or give the space here: hyperparameter: [values to try]. E.g. "
        '{"learning_rate": [0.001, 0.01], "hidden_units": [64, 128], "epochs": 20}; values '
        "in the inputs above win over the same hyperparameter here.",
    )
    random = forms.IntegerField(
        required=False,
        min_value=1,
        help_text="Run this many distinct points drawn from the grid; empty: the whole grid.",
    )
    seed = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=2**31 - 1,
        help_text="With random: seed of the draw (empty: drawn, and recorded).",
    )
    metric = forms.ChoiceField(
        choices=[(m, m) for m in METRICS],
        initial=DEFAULT_METRIC,
        help_text="Ranks the runs: the best run has the highest (the lowest for a loss).",
    )

    field_prefix = "sweep_"
    json_field = "space"
    legend = "Values to try"
    description = (
        "Values separated by commas, e.g. 0.001, 0.01: the lists are crossed into a grid, one "
        "run per point. A single value is kept for every run; empty: the default."
    )

    def make_field(self, name, spec):
        return _sweep_field(name, spec)

    def clean_space(self) -> dict:
        return _json_object(self.cleaned_data["space"])

    def clean(self) -> dict:
        """``space``: hyperparameter -> a list of values to try, or the one value every run
        gets; each value is checked here, the grid as a whole by the sweep service."""
        data = super().clean()
        architecture, extra = data.get("architecture"), data.get("space")
        if architecture is None:
            return data
        space = {}
        for key, name, spec, text in self.typed(architecture):
            try:
                space[name] = _values(name, spec, text)
            except HyperparameterError as exc:
                self.add_error(key, str(exc))
        if extra is None or self.refused_an_input():
            return data
        data["space"] = {**extra, **space}
        if not data["space"]:
            raise forms.ValidationError(
                "Give values to try for at least one hyperparameter to sweep."
            )
        return data


def _values(name: str, spec: Param | Choice, text: str):
    """The values typed as ``0.001, 0.01``: a list of two or more, else the one value."""
    values = []
    for piece in filter(None, (piece.strip() for piece in text.split(","))):
        value = spec.coerce(name, piece)
        if value in values:
            raise HyperparameterError(f"{name} lists {_shown(value)} twice")
        values.append(value)
    if not values:
        raise HyperparameterError(f"{name}: give values separated by commas")
    if len(values) > MAX_VALUES:
        raise HyperparameterError(f"{name} lists {len(values)} values, more than {MAX_VALUES}")
    return values if len(values) > 1 else values[0]


def _names_in(message: str) -> list[str]:
    """The hyperparameters a message names, in the order it names them."""
    found = []
    for name in HYPERPARAMETERS:
        match = re.search(rf"\b{name}\b", message)
        if match:
            found.append((match.start(), name))
    return [name for _, name in sorted(found)]


def _json_object(text: str) -> dict:
    text = text.strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise forms.ValidationError(f"not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise forms.ValidationError("give an object of name: value")
    return value
