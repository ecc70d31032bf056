"""The engine of :class:`~airflow_provider_moveworks.operators.bulk.MoveworksBulkUpdateConversationsOperator`.

One job per module, none of which imports ``requests``:

* ``storage``: open a local path or an object-storage URI as a text stream.
* ``rows``: read update rows (a list, JSON Lines or CSV) one at a time and check each.
* ``plan``: the validation pass (counts, duplicates, conflicts) and the rows to send.
* ``ratelimit``: the adaptive (AIMD) token-bucket limiter every request goes through.
* ``summary``: outcome accounting, the JSON Lines report and the progress log lines.
* ``runner``: the worker threads, the retry passes and the stop on a refused credential.
"""
