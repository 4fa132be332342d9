"""The bare endpoint: the ceiling of this stack for a check-in, served beside the app.

A plain Flask app with the application's own database set-up (`recovery.config.load_config`
reads DATABASE_URL and sets the engine options; `recovery.extensions.db` brings SQLite's
pragmas and its BEGIN IMMEDIATE for writing requests) and nothing else: no blueprints, no
sessions, CSRF, compression, security headers or translations. `POST /checkin` looks the
bearer token's SHA-256 up in the episode table, as the app does, inserts one `pain_entry` row
through the ORM and commits: what any check-in costs in Flask, SQLAlchemy and the database,
whatever the app does around it. Run it with `gunicorn benchmarks.bare:app`.
"""

from __future__ import annotations

from flask import Flask, jsonify, request

from recovery import ROOT
from recovery.care.models import Episode, PainEntry, utcnow
from recovery.care.tokens import hash_token
from recovery.config import load_config
from recovery.extensions import db

app = Flask(__name__, instance_path=str(ROOT / "instance"))
load_config(app, None)
db.init_app(app)


@app.get("/healthz")
def healthz():
    """Answers once the server is up (Gunicorn.start waits for it)."""
    return jsonify({"status": "ok"})


@app.post("/checkin")
def checkin():
    """Look the token up, store one entry, answer its id (201); 401 for an unknown token."""
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    episode_id = db.session.scalar(
        db.select(Episode.id).where(
            Episode.token_hash == hash_token(token), Episode.status == "active"
        )
    )
    if episode_id is None:
        return jsonify({"error": "invalid_token"}), 401
    body = request.get_json()
    now = utcnow()
    entry = PainEntry(
        episode_id=episode_id,
        pain=int(body["pain"]),
        recorded_dt=now,
        received_dt=now,
        idempotency_key=str(body["idempotency_key"]),
    )
    db.session.add(entry)
    db.session.commit()
    return jsonify({"id": entry.id, "pain": entry.pain}), 201
