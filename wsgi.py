"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

from recovery import create_app

app = create_app()
