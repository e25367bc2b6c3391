from django.apps import AppConfig


class DevdataConfig(AppConfig):
    # No models and no admin: the app only contributes its management commands, so its
    # name needs no translation.
    name = "devdata"
    verbose_name = "Development data"
