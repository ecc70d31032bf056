"""Connection defaults. No Airflow import here: provider metadata reads this module while
Airflow itself is still starting."""

DEFAULT_BASE_URL = "https://api.moveworks.ai/rest/v1beta1"
DEFAULT_TOKEN_URL = "https://api.moveworks.ai/oauth/v1/token"  # noqa: S105 - a URL, not a secret
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 5
MAX_TIMEOUT = 600
MAX_RETRIES_LIMIT = 20
