"""Operators that update Moveworks conversations.

Importing this module stays cheap for the scheduler's DAG parsing: the hook (and ``requests``)
load only when a task runs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_moveworks.exceptions import (
    MoveworksError,
    MoveworksNotFoundError,
    MoveworksValidationError,
)
from airflow_provider_moveworks.retry_policy import apply_default as apply_default_retry_policy
from airflow_provider_moveworks.validation import parse_switch
from airflow_provider_moveworks.version_compat import AirflowSkipException, BaseOperator, Context

if TYPE_CHECKING:
    from airflow_provider_moveworks.hooks.moveworks import MoveworksHook

__all__ = ["MoveworksUpdateConversationOperator"]

IF_NOT_FOUND_CHOICES = ("fail", "skip", "ignore")


class MoveworksUpdateConversationOperator(BaseOperator):
    """Set the title and/or the archived flag of one Moveworks conversation.

    Sends ``PATCH /conversations/{conversation_id}`` with only the fields given and returns the
    updated Conversation (pushed to XCom). Input is checked before anything is sent; errors that
    a retry cannot fix (bad input, 400, 401, 403, 404) fail the task without task retries, while
    429, 5xx and network errors that outlive the hook's own retries leave the task's ``retries``
    to act.

    :param conversation_id: the conversation to update, ``conv_...`` (templated).
    :param title: the new title, 1-256 characters (templated).
    :param archived: the new archived flag: a bool, or true/false/1/0/yes/no (templated).
    :param moveworks_conn_id: the ``moveworks`` Airflow connection (templated).
    :param assistant_name: overrides the connection's ``assistant_name`` extra (templated).
    :param if_not_found: what a 404 does: ``"fail"`` the task (default), ``"skip"`` it, or
        ``"ignore"`` it with a warning and return ``None``.
    :param dry_run: send nothing: read the conversation (one GET) and return what would change,
        ``{"dry_run": True, "conversation_id", "would_change": [fields], "current": conversation}``
        (templated: a bool or true/false).

    Example::

        MoveworksUpdateConversationOperator(
            task_id="archive",
            conversation_id="{{ params.conversation_id }}",
            archived=True,
        )
    """

    template_fields: Sequence[str] = (
        "conversation_id",
        "title",
        "archived",
        "assistant_name",
        "moveworks_conn_id",
        "dry_run",
    )
    ui_color = "#e7f0fd"

    def __init__(
        self,
        *,
        conversation_id: str,
        title: str | None = None,
        archived: bool | str | None = None,
        moveworks_conn_id: str = "moveworks_default",
        assistant_name: str | None = None,
        if_not_found: str = "fail",
        dry_run: bool | str = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if if_not_found not in IF_NOT_FOUND_CHOICES:
            raise ValueError(f"if_not_found must be one of {IF_NOT_FOUND_CHOICES}, got {if_not_found!r}")
        self.conversation_id = conversation_id
        self.title = title
        self.archived = archived
        self.moveworks_conn_id = moveworks_conn_id
        self.assistant_name = assistant_name
        apply_default_retry_policy(self)
        self.if_not_found = if_not_found
        self.dry_run = dry_run

    @cached_property
    def hook(self) -> MoveworksHook:
        from airflow_provider_moveworks.hooks.moveworks import MoveworksHook

        return MoveworksHook(self.moveworks_conn_id, assistant_name=self.assistant_name)

    def execute(self, context: Context) -> dict[str, Any] | None:
        self._outcome = None  # an earlier run's outcome is not this run's
        conversation_id = self.conversation_id
        fields = ", ".join(name for name in ("title", "archived") if getattr(self, name) is not None)
        started = time.monotonic()
        try:
            if parse_switch("dry_run", self.dry_run):
                preview = self._preview(conversation_id)
                self._record_changes(context, changed=False)
                return preview
            updated = self.hook.update_conversation(conversation_id, title=self.title, archived=self.archived)
        except MoveworksValidationError:
            raise  # checked before anything was sent
        except MoveworksError as error:
            self._outcome = "not_found" if isinstance(error, MoveworksNotFoundError) else "failed"
            status = getattr(error, "status", None) or type(error).__name__
            self.log.info(
                "Conversation %s: %s not updated, %s after %.0f ms",
                conversation_id,
                fields,
                status,
                _ms_since(started),
            )
            if isinstance(error, MoveworksNotFoundError) and self.if_not_found != "fail":
                self._record_changes(context, changed=False)
                self._not_found(error)
                return None
            raise
        self._outcome = "updated"
        self.log.info(
            "Conversation %s: %s updated, 200 in %.0f ms", conversation_id, fields, _ms_since(started)
        )
        self._record_changes(context, changed=True)
        return updated

    def _record_changes(self, context: Context, *, changed: bool) -> None:
        """The asset event of a Moveworks outlet, with this update's counts (see ``assets``)."""
        from airflow_provider_moveworks.assets import record_changes

        counts = {"updated": int(changed), "not_found": int(self._outcome == "not_found")}
        counts["unchanged"] = int(self._outcome == "unchanged")
        record_changes(self, context, counts, config=self.hook.settings, changed=changed)

    # What the last run did ("updated", "not_found", "failed"), for lineage; None if nothing was sent.
    _outcome: str | None = None

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage (when its provider is installed): the assistant's conversations written, and
        the counts (one of ``updated``, ``not_found``, ``failed``, ``invalid`` is 1). See
        :mod:`airflow_provider_moveworks.lineage`."""
        from airflow_provider_moveworks.lineage import operator_lineage, single_update_counts

        return operator_lineage(
            moveworks_conn_id=self.moveworks_conn_id,
            assistant_name=self.assistant_name,
            updates_file=None,
            counts=single_update_counts(self, self._outcome, succeeded=True),
        )

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """As on complete, counting the update as ``failed``, ``not_found`` or ``invalid``."""
        from airflow_provider_moveworks.lineage import operator_lineage, single_update_counts

        return operator_lineage(
            moveworks_conn_id=self.moveworks_conn_id,
            assistant_name=self.assistant_name,
            updates_file=None,
            counts=single_update_counts(self, self._outcome, succeeded=False),
        )

    def _preview(self, conversation_id: str) -> dict[str, Any]:
        """What the update would change, read with one GET; nothing is sent."""
        from airflow_provider_moveworks.client.client import checked_update

        body = checked_update(self.hook.get_conn().secrets, conversation_id, self.title, self.archived)[1]
        current = self.hook.get_conversation(conversation_id)
        changes = [name for name, value in body.items() if current.get(name) != value]
        self._outcome = "would_update" if changes else "unchanged"
        self.log.info(
            "Conversation %s: dry run, nothing sent; %s",
            conversation_id,
            f"would change {' and '.join(changes)}" if changes else "already as asked",
        )
        return {
            "dry_run": True,
            "conversation_id": conversation_id,
            "would_change": changes,
            "current": current,
        }

    def _not_found(self, error: MoveworksNotFoundError) -> None:
        if self.if_not_found == "skip":
            raise AirflowSkipException(str(error))
        self.log.warning("Ignoring (if_not_found='ignore'): %s", error)


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000


def __getattr__(name: str) -> Any:
    # The bulk operator's home is operators.bulk; this path still finds it, with a warning.
    if name == "MoveworksBulkUpdateConversationsOperator":
        import warnings

        from airflow_provider_moveworks.operators import bulk

        warnings.warn(
            "Import MoveworksBulkUpdateConversationsOperator from "
            "airflow_provider_moveworks.operators.bulk; this path will be removed",
            DeprecationWarning,
            stacklevel=2,
        )
        return bulk.MoveworksBulkUpdateConversationsOperator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
