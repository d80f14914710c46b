"""core.forms.apply_errors: a service error placed on a form, in a section, on a default field, or flashed."""

from __future__ import annotations

import pytest
from flask import get_flashed_messages
from flask_wtf import FlaskForm
from wtforms import StringField

from core.errors import ValidationError
from core.forms import apply_errors


class _Form(FlaskForm):
    class Meta:
        csrf = False

    name = StringField()
    documents = StringField()


@pytest.fixture
def form(app):
    with app.test_request_context("/"):
        yield _Form()


def _error(fields=None):
    return ValidationError("Refused.", code="refused", fields=fields or {})


def test_a_field_error_goes_on_its_field_and_nothing_is_flashed(form):
    assert apply_errors(form, _error({"name": ["Too long."]})) is True
    assert form.name.errors == ["Too long."]
    assert get_flashed_messages() == []


def test_renamed_fields_and_sections(form):
    sections: dict[str, list[str]] = {"lots": []}
    shown = apply_errors(form, _error({"file": ["Not a PDF."], "bond_amount": ["Too big."]}),
                         {"file": "documents", "bond_amount": "lots"}, sections=sections)
    assert shown is True
    assert form.documents.errors == ["Not a PDF."] and sections == {"lots": ["Too big."]}


def test_an_error_no_field_shows_goes_on_the_default_field(form):
    assert apply_errors(form, _error({"elsewhere": ["x"]}), default_field="name") is True
    assert form.name.errors == ["Refused."]
    assert get_flashed_messages() == []


def test_an_error_no_field_shows_is_flashed(form):
    assert apply_errors(form, _error({"elsewhere": ["x"]})) is False
    assert get_flashed_messages(with_categories=True) == [("danger", "Refused.")]
    assert form.name.errors == [] or not form.name.errors


# --------------------------------------------------------------------------- LongSelect


@pytest.mark.parametrize("chosen", ["", "2", "<&>"])
def test_long_select_renders_exactly_what_wtforms_select_renders(app, chosen):
    from wtforms import Form, SelectField
    from wtforms.fields.choices import SelectChoice
    from wtforms.widgets import Select

    from core.forms import LongSelect

    class Plain(Form):
        pick = SelectField(choices=[])

    form = Plain(data={"pick": chosen})
    form.pick.choices = [SelectChoice("", "Any"), SelectChoice("2", '扬州 <b>"quoted"</b> & co'),
                         SelectChoice("<&>", ""), SelectChoice(True, "yes")]
    fast, slow = LongSelect()(form.pick, class_="form-select"), Select()(form.pick, class_="form-select")
    assert str(fast) == str(slow)
    assert "&lt;b&gt;" in str(fast) and 'value="&lt;&amp;&gt;"' in str(fast)


def test_long_select_leaves_groups_and_option_attributes_to_wtforms(app):
    from wtforms import Form, SelectField
    from wtforms.fields.choices import SelectChoice
    from wtforms.widgets import Select

    from core.forms import LongSelect

    class Grouped(Form):
        pick = SelectField(choices=[SelectChoice("1", "one", optgroup="A"), SelectChoice("2", "two", optgroup="B")])

    class WithAttributes(Form):
        pick = SelectField(choices=[])

    grouped = Grouped()
    assert str(LongSelect()(grouped.pick)) == str(Select()(grouped.pick)) and "<optgroup" in str(
        LongSelect()(grouped.pick))
    attrs = WithAttributes()
    attrs.pick.choices = [SelectChoice("1", "one", render_kw={"disabled": True})]
    assert str(LongSelect()(attrs.pick)) == str(Select()(attrs.pick)) and "disabled" in str(LongSelect()(attrs.pick))


def test_long_select_reuses_its_option_markup_and_still_marks_each_requests_choice(app):
    from wtforms import Form, SelectField
    from wtforms.fields.choices import SelectChoice
    from wtforms.widgets import Select

    from core.forms import LongSelect

    widget = LongSelect()
    choices = [SelectChoice("", "Any"), SelectChoice("2", '扬州 <b>"quoted"</b> & co'), SelectChoice("<&>", "")]

    class Plain(Form):
        pick = SelectField(choices=[])

    for chosen in ("", "2", "<&>", None, "2"):  # the same list each time: written once, reused
        form = Plain(data={"pick": chosen})
        form.pick.choices = choices
        assert str(widget(form.pick, class_="form-select")) == str(Select()(form.pick, class_="form-select"))
    assert len(widget._options) == 1
    changed = [*choices, SelectChoice("3", "three")]  # another list: written again
    form = Plain(data={"pick": "3"})
    form.pick.choices = changed
    assert '<option selected value="3">three</option>' in str(widget(form.pick))


def test_long_select_writes_lazy_labels_in_each_language(app):
    from flask_babel import force_locale
    from flask_babel import lazy_gettext as _l
    from wtforms import Form, SelectField
    from wtforms.fields.choices import SelectChoice

    from core.forms import LongSelect

    widget = LongSelect()
    choices = [SelectChoice("", _l("Any"))]

    class Plain(Form):
        pick = SelectField(choices=[])

    form = Plain()
    form.pick.choices = choices
    with app.test_request_context():
        with force_locale("en"):
            english = str(widget(form.pick))
        with force_locale("zh_Hans_CN"):
            chinese = str(widget(form.pick))
        with force_locale("en"):
            assert str(widget(form.pick)) == english
    assert ">Any</option>" in english and ">Any</option>" not in chinese


# --------------------------------------------------------------------------- search_field


def test_search_field_writes_label_control_and_errors_escaped(app):
    from wtforms import DateField, Form, SearchField, SelectField
    from wtforms.fields.choices import SelectChoice
    from wtforms.validators import Length

    from core.forms import LongSelect, search_field

    class Search(Form):
        q = SearchField('Words <"all">', validators=[Length(max=40)])
        day = DateField("Day")
        pick = SelectField("Pick", choices=[SelectChoice("", "Any"), SelectChoice("a&b", "A & B")], widget=LongSelect())

    form = Search(data={"q": 'x"<y>&', "pick": "a&b"})
    form.validate()
    form.q.errors = ["Too <long>"]
    assert str(search_field(form.q, placeholder='e.g. "办公"')) == (
        '<div class="mb-3"><label class="form-label" for="q">Words &lt;&#34;all&#34;&gt;</label>'
        '<input class="form-control is-invalid" id="q" maxlength="40" placeholder="e.g. &#34;办公&#34;" name="q" '
        'type="search" value="x&#34;&lt;y&gt;&amp;"><div class="invalid-feedback">Too &lt;long&gt;</div></div>')
    assert str(search_field(form.pick)) == (
        '<div class="mb-3"><label class="form-label" for="pick">Pick</label>'
        '<select class="form-select" id="pick" name="pick"><option value="">Any</option>'
        '<option selected value="a&amp;b">A &amp; B</option></select></div>')
    assert 'name="day" type="date" value="">' in str(search_field(form.day))  # the type is the widget's


def test_search_field_with_a_button_and_a_description(app):
    from wtforms import Form, SearchField

    from core.forms import search_field

    class Search(Form):
        q = SearchField("Keyword", description="Words of <the> title.")

    form = Search(data={"q": "办公"})
    form.q.errors = ["Too long"]
    assert str(search_field(form.q, button="Search & find")) == (
        '<div class="mb-3"><label class="form-label" for="q">Keyword</label><div class="input-group">'
        '<input class="form-control is-invalid" id="q" name="q" aria-describedby="q-help" type="search" value="办公">'
        '<button class="btn btn-primary" type="submit"><i class="bi bi-search" aria-hidden="true"></i> '
        'Search &amp; find</button></div><div class="invalid-feedback d-block">Too long</div>'
        '<div class="form-text" id="q-help">Words of &lt;the&gt; title.</div></div>')


def test_search_field_renders_any_other_select_with_wtforms_widget(app):
    from wtforms import Form, SelectField
    from wtforms.fields.choices import SelectChoice

    from core.forms import search_field

    class Plain(Form):
        pick = SelectField("Pick", choices=[SelectChoice("a", "A"), SelectChoice("b", "B <b>")])

    html = str(search_field(Plain(data={"pick": "b"}).pick))
    assert html.startswith('<div class="mb-3"><label class="form-label" for="pick">Pick</label><select class="form-select"')
    assert '<option selected value="b">B &lt;b&gt;</option>' in html and html.endswith("</select></div>")
