"""The inbox's fields: `notifications` (with its badge counts), `notification`; a mutation per
command of one notification and `read_all_notifications` (`gui_notifications.use_cases`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from graphql import GraphQLArgument, GraphQLBoolean, GraphQLField, GraphQLNonNull, GraphQLString

from gui_core import rbac
from gui_graphql.fields.base import (
    AN_ID,
    Access,
    Context,
    Resolver,
    connected,
    connection,
    first_of,
    make_field,
    page_arguments,
    validated,
)
from gui_notifications import use_cases
from gui_notifications.models import CommandInput, InboxQuery, Notification, ReadAllResult, StatusCounts

if TYPE_CHECKING:
    from gui_graphql.types import ModelTypes
    from gui_notifications.settings import NotificationsSettings
    from gui_notifications.use_cases import NotificationsPorts

GROUP = "notifications"
ORDER = 40  # where its root fields come in the schema
PAGES = {"notifications": 25}
ACCESS = Access("notifications", rbac.NOTIFICATIONS)
# The commands of one notification, as `POST /notifications/{id}/{command}` takes them.
COMMANDS = ("read", "acknowledge", "snooze", "unsnooze", "assign", "archive")


def settings() -> NotificationsSettings:
    """The group's settings, from the environment (read at the cold start, as its own function does)."""
    from gui_notifications.settings import NotificationsSettings

    return NotificationsSettings()  # type: ignore[call-arg]  # fields come from the environment


def ports(settings: NotificationsSettings) -> NotificationsPorts:
    from gui_notifications.ports import build_ports

    return build_ports(settings)


def _ports(context: Context) -> NotificationsPorts:
    found: NotificationsPorts = context.ports.of(GROUP)
    return found


def _notifications(context: Context, arguments: Mapping[str, Any]) -> dict[str, Any]:
    filters = {k: arguments.get(k) for k in ("status", "severity", "category", "assignee")}
    query: InboxQuery = validated(
        InboxQuery,
        {**filters, "limit": first_of(arguments, PAGES["notifications"]), "cursor": arguments.get("after")},
    )
    pages = context.pages("/notifications", filters)
    page = use_cases.list_notifications(_ports(context), context.caller, query, pages)
    return connected(
        page.items,
        page.next_cursor,
        counts=page.counts.model_dump(mode="json"),
        counts_complete=page.counts_complete,
    )


def _notification(context: Context, arguments: Mapping[str, Any]) -> Notification:
    return use_cases.get_notification(_ports(context), context.caller, str(arguments["id"]))


def _command(command: str) -> Resolver:
    def resolve(context: Context, arguments: Mapping[str, Any]) -> Notification:
        body = validated(
            CommandInput, {k: v for k, v in arguments.items() if k in ("until", "assignee") and v is not None}
        )
        return use_cases.command_notification(
            _ports(context),
            context.caller,
            str(arguments["id"]),
            command,
            body,
            if_match=arguments.get("if_match"),
        )

    return resolve


def _read_all(context: Context, _arguments: Mapping[str, Any]) -> ReadAllResult:
    return use_cases.read_all(_ports(context), context.caller)


def query(types: ModelTypes) -> dict[str, GraphQLField]:
    inbox = InboxQuery.model_fields
    notification = types.object(Notification)
    return {
        "notifications": make_field(
            connection(
                types,
                "Notification",
                notification,
                counts=GraphQLField(GraphQLNonNull(types.object(StatusCounts))),
                counts_complete=GraphQLField(GraphQLNonNull(GraphQLBoolean)),
            ),
            _notifications,
            args={
                **page_arguments(PAGES["notifications"]),
                "status": GraphQLArgument(
                    types.literal_enum(inbox["status"].annotation, "NotificationStatus"),
                    description="A due snooze counts as unread.",
                ),
                "severity": GraphQLArgument(types.literal_enum(inbox["severity"].annotation, "Severity")),
                "category": GraphQLArgument(types.literal_enum(inbox["category"].annotation, "Category")),
                "assignee": GraphQLArgument(GraphQLString, description="A subject, or `me`."),
            },
            description="The caller's inbox with badge counts (`GET /notifications`).",
            access=ACCESS,
        ),
        "notification": make_field(
            GraphQLNonNull(notification),
            _notification,
            args=AN_ID,
            description="One notification of the caller's inbox (`GET /notifications/{id}`).",
            access=ACCESS,
        ),
    }


def _command_arguments(command: str) -> dict[str, GraphQLArgument]:
    extra = {
        "snooze": {"until": GraphQLArgument(GraphQLNonNull(GraphQLString))},
        "assign": {"assignee": GraphQLArgument(GraphQLString, description="A subject, or `me`.")},
    }
    return {
        **AN_ID,
        "if_match": GraphQLArgument(
            GraphQLString, description="The item's `etag`: refused (412) if changed."
        ),
        **extra.get(command, {}),
    }


def mutation(types: ModelTypes) -> dict[str, GraphQLField]:
    notification = types.object(Notification)
    commands = {
        f"{command}_notification": make_field(
            GraphQLNonNull(notification),
            _command(command),
            args=_command_arguments(command),
            description=f"`POST /notifications/{{id}}/{command}`.",
            mutation=True,
            access=ACCESS,
        )
        for command in COMMANDS
    }
    return {
        **commands,
        "read_all_notifications": make_field(
            GraphQLNonNull(types.object(ReadAllResult)),
            _read_all,
            description="Mark every unread item read (`POST /notifications/read-all`).",
            mutation=True,
            access=ACCESS,
        ),
    }
