"""The preferences' fields (`gui_preferences.use_cases`): `preferences`, `tenant_policy`, `views`,
`view`; `replace_preferences`, `replace_tenant_policy`, `reset_user_preferences`, `create_view`,
`replace_view`, `delete_view`, one per REST route.

A body is a `JSON` argument validated by REST's own body model (its errors are REST's 422, with
REST's pointers). What REST answers with an `ETag` is an object of `etag` and `body` (the REST
model), and its writes take that tag back as `if_match`, as REST's `If-Match`. The tenant's policy
and another user's reset need the admin scope, as in REST; the views are behind their own feature
flag (`preferences.views`), as REST's views routes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from graphql import (
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLString,
)
from pydantic import BaseModel

from gui_core import rbac
from gui_graphql.fields.base import (
    AN_ID,
    Access,
    Context,
    connected,
    connection,
    first_of,
    make_field,
    page_arguments,
    validated,
)
from gui_graphql.types import JSON
from gui_preferences import use_cases
from gui_preferences.models import (
    PreferencesDocument,
    PreferenceValues,
    TenantPolicyDocument,
    TenantPolicyInput,
    View,
    ViewInput,
)

if TYPE_CHECKING:
    from gui_graphql.types import ModelTypes
    from gui_preferences.settings import PreferencesSettings
    from gui_preferences.use_cases import PreferencesPorts, Tagged

GROUP = "preferences"
ORDER = 50  # where its root fields come in the schema
PAGES = {"views": 50}
ACCESS = Access("preferences", rbac.PREFERENCES)
# As REST's routes: `/preferences/tenant` and `/preferences/users/{subject}` need the admin scope,
# `/preferences/views` its own feature flag (`GroupPolicy("preferences.views")`).
ADMIN_ACCESS = Access("preferences", rbac.ADMIN)
VIEWS_ACCESS = Access("preferences.views", rbac.PREFERENCES)


def settings() -> PreferencesSettings:
    """The group's settings, from the environment (read at the cold start, as its own function does)."""
    from gui_preferences.settings import PreferencesSettings

    return PreferencesSettings()  # type: ignore[call-arg]  # fields come from the environment


def ports(settings: PreferencesSettings) -> PreferencesPorts:
    from gui_preferences.ports import build_ports

    return build_ports(settings)


def _ports(context: Context) -> PreferencesPorts:
    found: PreferencesPorts = context.ports.of(GROUP)
    return found


def _tagged(answer: Tagged[Any]) -> dict[str, Any]:
    return {"etag": answer.etag, "body": answer.body.model_dump(mode="json")}


def _if_match(arguments: Mapping[str, Any]) -> str | None:
    value = arguments.get("if_match")
    return None if value is None else str(value)


# -- the caller's preferences, the tenant's policy ----------------------------------------------


def _preferences(context: Context, _arguments: Mapping[str, Any]) -> dict[str, Any]:
    return _tagged(use_cases.read_preferences(_ports(context), context.caller))


def _replace_preferences(context: Context, arguments: Mapping[str, Any]) -> dict[str, Any]:
    values = validated(PreferenceValues, arguments["values"])
    replaced = use_cases.replace_preferences(
        _ports(context), context.caller, values, if_match=_if_match(arguments)
    )
    return _tagged(replaced)


def _tenant_policy(context: Context, _arguments: Mapping[str, Any]) -> dict[str, Any]:
    return _tagged(use_cases.read_tenant_policy(_ports(context), context.caller))


def _replace_tenant_policy(context: Context, arguments: Mapping[str, Any]) -> dict[str, Any]:
    policy = validated(TenantPolicyInput, arguments["policy"])
    replaced = use_cases.replace_tenant_policy(
        _ports(context), context.caller, policy, if_match=_if_match(arguments)
    )
    return _tagged(replaced)


def _reset_user(context: Context, arguments: Mapping[str, Any]) -> bool:
    use_cases.reset_user(_ports(context), context.caller, str(arguments["subject"]))
    return True


# -- saved views --------------------------------------------------------------------------------


def _views(context: Context, arguments: Mapping[str, Any]) -> dict[str, Any]:
    # REST's query parameters, by their names: the cursors are those of `GET /preferences/views`.
    filters = {"module": arguments.get("module"), "owner": arguments.get("owner")}
    page = use_cases.list_views(
        _ports(context),
        context.caller,
        context.pages("/preferences/views", filters),
        module=filters["module"],
        owner=filters["owner"],
        limit=first_of(arguments, PAGES["views"]),
        cursor=arguments.get("after"),
    )
    return connected(page.items, page.next_cursor)


def _view(context: Context, arguments: Mapping[str, Any]) -> dict[str, Any]:
    return _tagged(use_cases.read_view(_ports(context), context.caller, str(arguments["id"])))


def _create_view(context: Context, arguments: Mapping[str, Any]) -> dict[str, Any]:
    view = validated(ViewInput, arguments["view"])
    return _tagged(use_cases.create_view(_ports(context), context.caller, view))


def _replace_view(context: Context, arguments: Mapping[str, Any]) -> dict[str, Any]:
    view = validated(ViewInput, arguments["view"])
    replaced = use_cases.replace_view(
        _ports(context), context.caller, str(arguments["id"]), view, if_match=_if_match(arguments)
    )
    return _tagged(replaced)


def _delete_view(context: Context, arguments: Mapping[str, Any]) -> bool:
    use_cases.delete_view(
        _ports(context), context.caller, str(arguments["id"]), if_match=_if_match(arguments)
    )
    return True


# -- the schema ---------------------------------------------------------------------------------


# The `Tagged<Model>` types of each schema's ModelTypes, each made once.
_TAGGED: WeakKeyDictionary[ModelTypes, dict[type[BaseModel], GraphQLObjectType]] = WeakKeyDictionary()


def _tagged_type(types: ModelTypes, model: type[BaseModel]) -> GraphQLOutputType:
    """`Tagged<Model>`: REST's body and the `ETag` REST sends with it."""
    made = _TAGGED.setdefault(types, {})
    if model not in made:
        made[model] = GraphQLObjectType(
            f"Tagged{model.__name__}",
            {
                "etag": GraphQLField(
                    GraphQLNonNull(GraphQLString),
                    description="REST's `ETag`: send it as `if_match` to change this (412 if it changed).",
                ),
                "body": GraphQLField(GraphQLNonNull(types.object(model)), description="REST's body."),
            },
            description=f"A {model.__name__} with the entity tag REST sends with it.",
        )
    return GraphQLNonNull(made[model])


def _if_match_argument(required: bool) -> dict[str, GraphQLArgument]:
    needed = "without it, 428 `precondition_required`" if required else "optional"
    return {
        "if_match": GraphQLArgument(
            GraphQLString,
            description=f"The `etag` you read, or `*` (REST's `If-Match`; {needed}); a stale one is 412.",
        )
    }


def query(types: ModelTypes) -> dict[str, GraphQLField]:
    return {
        "preferences": make_field(
            _tagged_type(types, PreferencesDocument),
            _preferences,
            description="The caller's effective preferences (`GET /preferences`).",
            access=ACCESS,
        ),
        "tenant_policy": make_field(
            _tagged_type(types, TenantPolicyDocument),
            _tenant_policy,
            description="The tenant's preference defaults and locks (`GET /preferences/tenant`, admin).",
            access=ADMIN_ACCESS,
        ),
        "views": make_field(
            connection(types, "View", types.object(View)),
            _views,
            args={
                **page_arguments(PAGES["views"]),
                "module": GraphQLArgument(GraphQLString, description="Only views of this module."),
                "owner": GraphQLArgument(
                    types.enum(("me",), "ViewOwner"), description="`me`: the caller's own views only."
                ),
            },
            description=(
                "The caller's own views and the views shared with the tenant, oldest first "
                "(`GET /preferences/views`)."
            ),
            access=VIEWS_ACCESS,
        ),
        "view": make_field(
            _tagged_type(types, View),
            _view,
            args=AN_ID,
            description="A saved view (`GET /preferences/views/{view_id}`).",
            access=VIEWS_ACCESS,
        ),
    }


def mutation(types: ModelTypes) -> dict[str, GraphQLField]:
    view_body = {"view": GraphQLArgument(GraphQLNonNull(JSON), description="REST's body: a ViewInput.")}
    return {
        "replace_preferences": make_field(
            _tagged_type(types, PreferencesDocument),
            _replace_preferences,
            args={
                "values": GraphQLArgument(
                    GraphQLNonNull(JSON),
                    description="REST's body: the caller's overrides (PreferenceValues).",
                ),
                **_if_match_argument(required=True),
            },
            description="Replace the caller's preferences (`PUT /preferences`; 403 for a locked key).",
            mutation=True,
            access=ACCESS,
        ),
        "replace_tenant_policy": make_field(
            _tagged_type(types, TenantPolicyDocument),
            _replace_tenant_policy,
            args={
                "policy": GraphQLArgument(
                    GraphQLNonNull(JSON),
                    description="REST's body: defaults and locked keys (TenantPolicyInput).",
                ),
                **_if_match_argument(required=True),
            },
            description="Replace the tenant's defaults and policy (`PUT /preferences/tenant`, admin).",
            mutation=True,
            access=ADMIN_ACCESS,
        ),
        "reset_user_preferences": make_field(
            GraphQLNonNull(GraphQLBoolean),
            _reset_user,
            args={"subject": GraphQLArgument(GraphQLNonNull(GraphQLString))},
            description="Reset one user's preferences (`DELETE /preferences/users/{subject}`, admin); true.",
            mutation=True,
            access=ADMIN_ACCESS,
        ),
        "create_view": make_field(
            _tagged_type(types, View),
            _create_view,
            args=view_body,
            description="Create a saved view (`POST /preferences/views`; 409 for a name taken).",
            mutation=True,
            access=VIEWS_ACCESS,
        ),
        "replace_view": make_field(
            _tagged_type(types, View),
            _replace_view,
            args={**AN_ID, **view_body, **_if_match_argument(required=False)},
            description="Replace a saved view, its owner only (`PUT /preferences/views/{view_id}`).",
            mutation=True,
            access=VIEWS_ACCESS,
        ),
        "delete_view": make_field(
            GraphQLNonNull(GraphQLBoolean),
            _delete_view,
            args={**AN_ID, **_if_match_argument(required=False)},
            description=(
                "Delete a saved view, its owner or an admin for a shared one "
                "(`DELETE /preferences/views/{view_id}`); true."
            ),
            mutation=True,
            access=VIEWS_ACCESS,
        ),
    }
