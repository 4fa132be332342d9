"""Recovery: follow patients' pain after vertebroplasty against the expected relief curve."""

from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict | None = None) -> Flask:
    """Build the application: config, extensions, blueprints, CLI."""
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    from .config import load_config

    load_config(app, test_config)
    if app.config["TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

    from .extensions import babel, csrf, db, login_manager, migrate
    from .web import assets, compression, security, site, throttle

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    babel.init_app(app, locale_selector=site.select_locale, timezone_selector=site.select_timezone)
    assets.init_app(app)
    compression.init_app(app)
    security.init_app(app)
    throttle.init_app(app)
    site.init_app(app)

    from .api import bp as api_bp
    from .auth import bp as auth_bp
    from .patient import bp as patient_bp
    from .staff import bp as staff_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(staff_bp)
    app.register_blueprint(patient_bp)
    app.register_blueprint(api_bp)
    csrf.exempt(api_bp)

    from .cli import recovery_cli

    app.cli.add_command(recovery_cli)
    return app
