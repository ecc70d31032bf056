"""Apache Airflow provider for the Moveworks Conversations API."""

__version__ = "0.1.0"
