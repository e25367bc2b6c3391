"""The registered batch jobs for menus: `{% registered_batch_jobs as jobs %}`, each with
its `name` (for `{% url 'batch:new' job.name %}`) and its `label`."""

from django import template

from batch.jobs import registered_jobs

register = template.Library()


@register.simple_tag
def registered_batch_jobs():
    return registered_jobs()
