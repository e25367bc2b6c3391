"""The signed-in user of a request, read with its roles in one query.

Every page and API call checks a role (core.roles), and Django's ModelBackend reads the
user and, at the first check, its groups: two queries on every request after the
session's own. Here the user's group names come with the user, and core.roles reads
them from the instance. They are read anew on every request, as before: a role taken
away applies from the next request."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group
from django.db import connection

from core.roles import remember_role_names


def _user_with_role_names_sql() -> str:
    """The user by id, with `role_names_read`: the names of its groups (an array)."""
    user_model = get_user_model()
    membership = user_model.groups.through._meta
    return f"""
    SELECT u.*, ARRAY(
        SELECT g.name FROM {Group._meta.db_table} AS g
        JOIN {membership.db_table} AS member ON member.group_id = g.id
        WHERE member.user_id = u.{user_model._meta.pk.column}
    ) AS role_names_read
    FROM {user_model._meta.db_table} AS u
    WHERE u.{user_model._meta.pk.column} = %s
    """


class ModelBackendWithRoles(ModelBackend):
    """Django's ModelBackend (passwords, permissions, inactive users refused), whose
    get_user, run on every signed-in request, also reads the user's role names."""

    def get_user(self, user_id):
        if connection.vendor != "postgresql":
            return super().get_user(user_id)
        # Raw SQL, a subquery rather than the ORM's aggregate and GROUP BY: building that
        # query cost more than the query it saved.
        found = list(get_user_model()._default_manager.raw(_user_with_role_names_sql(), [user_id]))
        user = found[0] if found else None
        if user is None or not self.user_can_authenticate(user):
            return None
        remember_role_names(user, user.role_names_read)
        return user
