"""Request plumbing shared by every blueprint: security headers, assets, throttling, error
pages, locale, charts and the forms and views two blueprints share.
"""
