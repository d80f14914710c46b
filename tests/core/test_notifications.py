from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask_babel import force_locale, get_locale
from flask_babel import lazy_gettext as _l

from core import clock, notifications
from core.db import db, unit_of_work
from core.extensions import mail
from core.models.notifications import Notification
from core.models.outbox import OutboxMessage
from core.notifications import Recipient, notify, unread_count
from tests.factories import make_user


@pytest.fixture(autouse=True)
def _clean_mail():
    notifications.clear_sent_mail()
    yield
    notifications.clear_sent_mail()


def _recipient(user, locale="en") -> Recipient:
    return Recipient(user.id, user.email, locale)


def _inbox(user_id: int) -> list[Notification]:
    db.session.expire_all()
    return list(db.session.scalars(notifications.inbox_query(user_id)))


def _email_rows() -> list[OutboxMessage]:
    return list(db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == "email")))


class LocaleProbe:
    """A stand-in for a lazy string: renders as the locale active when str() is called."""

    def __str__(self) -> str:
        return str(get_locale())


def test_notify_writes_an_inbox_entry_and_an_email_per_recipient():
    alice, bob = make_user(), make_user()
    notify(
        [_recipient(alice), _recipient(bob)],
        "system",
        _l("Tender %(t)s amended", t="YZ-2026-001"),
        body="The deadline moved.",
        link="/procurement/tenders/1",
    )
    for user in (alice, bob):
        (entry,) = _inbox(user.id)
        assert entry.title == "Tender YZ-2026-001 amended"
        assert entry.body == "The deadline moved."
        assert entry.link == "/procurement/tenders/1"
        assert entry.kind == "system"
        assert entry.read_at is None
        email = notifications.last_email(user.email)
        assert email["subject"] == "Tender YZ-2026-001 amended"
        assert "The deadline moved." in email["text"]
        assert "http://localhost:5000/procurement/tenders/1" in email["text"]
        assert "YZ-2026-001" in email["html"]
    assert {m.status for m in _email_rows()} == {"sent"}


def test_notify_renders_title_and_email_in_each_recipients_locale():
    zh_user, en_user = make_user(), make_user()
    notify([_recipient(zh_user, "zh_Hans_CN"), _recipient(en_user, "en")], "system", LocaleProbe(), body=LocaleProbe())
    assert _inbox(zh_user.id)[0].title == "zh_Hans_CN"
    assert _inbox(en_user.id)[0].title == "en"
    assert _inbox(en_user.id)[0].body == "en"
    assert notifications.last_email(zh_user.email)["subject"] == "zh_Hans_CN"


def test_notify_deduplicates_recipients():
    user = make_user()
    notify([_recipient(user), _recipient(user)], "system", "Hello")
    assert len(_inbox(user.id)) == 1
    assert len(_email_rows()) == 1


def test_email_preference_off_writes_the_inbox_entry_but_no_email():
    user = make_user()
    notifications.set_preferences(user.id, {"system": {"email": False, "in_app": True}})
    notify([_recipient(user)], "system", "Maintenance tonight")
    assert [n.title for n in _inbox(user.id)] == ["Maintenance tonight"]
    assert _email_rows() == []
    assert notifications.last_email(user.email) is None


def test_in_app_preference_off_sends_only_the_email():
    user = make_user()
    notifications.set_preferences(user.id, {"account": {"email": True, "in_app": False}})
    notify([_recipient(user)], "account", "Invitation accepted")
    assert _inbox(user.id) == []
    assert notifications.last_email(user.email)["subject"] == "Invitation accepted"


def test_security_notices_ignore_opt_out():
    user = make_user()
    notifications.set_preferences(user.id, {"security": {"email": False, "in_app": False}})
    assert notifications.user_preferences(user.id)["security"] == {"email": True, "in_app": True}
    notify([_recipient(user)], "security", "New sign-in")
    assert len(_inbox(user.id)) == 1
    assert notifications.last_email(user.email) is not None


def test_explicit_email_flag_overrides_the_preference():
    user = make_user()
    notify([_recipient(user)], "system", "In-app only", email=False)
    assert _email_rows() == []
    notifications.set_preferences(user.id, {"system": {"email": False, "in_app": True}})
    notify([_recipient(user)], "system", "Must be emailed", email=True)
    assert notifications.last_email(user.email)["subject"] == "Must be emailed"


def test_notify_rolls_back_with_the_callers_transaction():
    user = make_user()
    with pytest.raises(ValueError), unit_of_work():
        notify([_recipient(user)], "system", "Never happened")
        raise ValueError("service failed")
    assert _inbox(user.id) == []
    assert _email_rows() == []
    assert notifications.last_email(user.email) is None


def test_unread_count_and_marking_read():
    user, other = make_user(), make_user()
    notify([_recipient(user)], "system", "One", email=False)
    notify([_recipient(user)], "system", "Two", email=False)
    notify([_recipient(other)], "system", "Theirs", email=False)
    assert unread_count(user.id) == 2
    first = _inbox(user.id)[-1]
    assert notifications.mark_read(other.id, first.id) is None  # not theirs
    assert unread_count(user.id) == 2
    clock.set_time(clock.now())
    assert notifications.mark_read(user.id, first.id).read_at == clock.now()
    assert unread_count(user.id) == 1
    assert notifications.mark_all_read(user.id) == 1
    assert unread_count(user.id) == 0
    assert unread_count(other.id) == 1


def test_send_email_goes_through_the_outbox():
    message = notifications.send_email("x@example.test", "Subject\nline", "Body")
    db.session.expire_all()
    row = db.session.get(OutboxMessage, message.id)
    assert (row.kind, row.status) == ("email", "sent")
    assert notifications.last_email("x@example.test")["subject"] == "Subject line"  # no header injection


def test_log_backend_appends_to_the_mail_log_file(app, monkeypatch, tmp_path):
    log_file = tmp_path / "mail.log"
    monkeypatch.setitem(app.config, "MAIL_LOG_FILE", str(log_file))
    notifications.send_email("dev@example.test", "Reset your password", "Open http://localhost/reset/abc")
    content = log_file.read_text(encoding="utf-8")
    assert "dev@example.test" in content
    assert "http://localhost/reset/abc" in content


def test_flask_mail_is_used_when_a_mail_server_is_configured(app, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_SERVER", "smtp.example.test")
    with mail.record_messages() as sent:
        notifications.send_email("to@example.test", "Hello", "Text body", "<p>Html body</p>")
    assert len(sent) == 1
    assert sent[0].recipients == ["to@example.test"]
    assert sent[0].subject == "Hello"
    assert sent[0].html == "<p>Html body</p>"


def test_render_email_uses_the_given_locale():
    with force_locale("en"):
        subject, text, html = notifications.render_email(
            "notification", "en", title="Bid received", body="", link="http://x/1"
        )
    assert subject == "Bid received"
    assert "http://x/1" in text
    assert html and "Bid received" in html


# --------------------------------------------------------------------------- pages

def _login(client, user):
    from tests.helpers import login

    response = login(client, user)
    assert response.status_code in (302, 303), response.status_code


def test_inbox_requires_login(client):
    response = client.get("/notifications")
    assert response.status_code in (302, 303, 401)


def test_inbox_lists_newest_first_and_marks_read(client):
    from tests.helpers import post_form

    user = make_user()
    notify([_recipient(user)], "system", "Older", email=False)
    clock.advance(timedelta(minutes=1))
    notify([_recipient(user)], "system", "Newer", email=False, link="/accounts/")
    _login(client, user)
    page = client.get("/notifications?lang=en")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.index("Newer") < html.index("Older")
    newer = _inbox(user.id)[0]
    response = post_form(client, f"/notifications/{newer.id}/read", {"open": "1"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/accounts/")
    assert unread_count(user.id) == 1
    post_form(client, "/notifications/read-all")
    assert unread_count(user.id) == 0


def test_marking_another_users_notification_is_not_found(client):
    from tests.helpers import post_form

    owner, intruder = make_user(), make_user()
    notify([_recipient(owner)], "system", "Private", email=False)
    item = _inbox(owner.id)[0]
    _login(client, intruder)
    assert post_form(client, f"/notifications/{item.id}/read").status_code == 404
    assert unread_count(owner.id) == 1


def test_external_link_is_never_followed(client):
    from tests.helpers import post_form

    user = make_user()
    notify([_recipient(user)], "system", "Phish", email=False, link="https://evil.example/")
    item = _inbox(user.id)[0]
    _login(client, user)
    response = post_form(client, f"/notifications/{item.id}/read", {"open": "1"})
    assert "evil.example" not in response.headers["Location"]


def test_preferences_page_saves_choices(client):
    from tests.helpers import post_form

    user = make_user()
    _login(client, user)
    assert client.get("/notifications/preferences").status_code == 200
    response = post_form(
        client, "/notifications/preferences", {"in_app-system": "1", "email-account": "1", "in_app-account": "1"}
    )
    assert response.status_code == 303
    prefs = notifications.user_preferences(user.id)
    assert prefs["system"] == {"email": False, "in_app": True}
    assert prefs["account"] == {"email": True, "in_app": True}
    assert prefs["security"] == {"email": True, "in_app": True}


def test_unread_count_is_available_to_templates(app):
    user = make_user()
    notify([_recipient(user)], "system", "Ping", email=False)
    with app.test_request_context("/"):
        from flask_login import login_user

        login_user(user)
        context = {}
        app.update_template_context(context)
        assert context["unread_notifications"] == 1


def test_recipient_of_a_user_carries_id_email_and_locale():
    user = make_user(locale="en")
    assert notifications.Recipient.of(user) == Recipient(user.id, user.email, "en")
