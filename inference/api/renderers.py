"""The browsable API's page for predictions: its form starts with a body ready to send."""

import json

from rest_framework.renderers import BrowsableAPIRenderer


class PredictFormRenderer(BrowsableAPIRenderer):
    """The raw-data form of a GET answer that carries an ``example`` body starts with it, so
    "POST" sends a valid request and shows the answer."""

    def get_raw_data_form(self, data, view, method, request):
        form = super().get_raw_data_form(data, view, method, request)
        example = data.get("example") if isinstance(data, dict) else None
        if form is not None and example is not None and method == "POST":
            form.initial["_content"] = json.dumps(example, indent=2)
        return form
