"""python -m tests.fakes.idp.serve PORT REDIRECT_URI: migrate a fresh database, register the
application ("abvlmq", secret "abvlmq-secret", RS256, PKCE) and the test users, then serve.

Users (password "idp-password"): rita (group us-residents), ivan (us-faculty), ada (us-admins),
nora (a group nobody mapped), lena (email lena@hospital.test, us-residents)."""

import sys

import django


def main(port: str, redirect_uri: str) -> None:
    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from oauth2_provider.models import Application

    call_command("migrate", verbosity=0)
    app = Application(
        name="AbVLM-Q",
        client_id="abvlmq",
        client_secret="abvlmq-secret",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=redirect_uri,
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,
    )
    app.save()
    for name, group, email in (
        ("rita", "us-residents", "rita@hospital.test"),
        ("ivan", "us-faculty", "ivan@hospital.test"),
        ("ada", "us-admins", "ada@hospital.test"),
        ("nora", "radiology-clerks", "nora@hospital.test"),
        ("lena", "us-residents", "lena@hospital.test"),
    ):
        user = User.objects.create_user(
            name, email=email, password="idp-password", first_name=name.title(), last_name="Test"
        )
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    print("idp ready", flush=True)
    call_command("runserver", f"127.0.0.1:{port}", use_reloader=False, use_threading=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
