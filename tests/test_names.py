import pytest

from wiki.core import names
from wiki.core.names import BadPageName


@pytest.mark.parametrize("name", ["Home", "Projects/Alpha/Status", "Crème brûlée", "日本語/ページ",
                                  "a b", "common/[", "common/%", "C++", "README.md", "common/.", "common/..", ".hidden-page"])
def test_good_names_pass(name):
    assert names.check_name(name) == name


@pytest.mark.parametrize("name,rule", [
    ("", "empty"), ("../etc/passwd", ".."), ("a/../../b", ".."), ("/etc/passwd", "start with /"),
    ("a\\b", "backslash"), ("a\x00b", "control"), ("a\nb", "control"), (".git/config", "dot"),
    ("a/.git/HEAD", "dot"), (".git/x", "dot"), ("a/../b", ".."), ("a//b", "empty folder"), ("folder/", "end with /"), ("-/edit", "reserved"),
    (" padded", "space"), ("x" * 300, "bytes"), (".wiki/redirects", "dot"), ("./a", "."), ("a\u2028b", "control"),
])
def test_bad_names_say_which_rule(name, rule):
    with pytest.raises(BadPageName) as err:
        names.check_name(name)
    assert rule in err.value.rule


@pytest.mark.parametrize("name", ["a:b", "what?", "x|y", "[x]", "a#b", "CON", "nul.txt", "trailing.", ".hidden", "common/."])
def test_new_names_must_be_portable(name):
    names.check_name(name)  # readable when it already exists
    with pytest.raises(BadPageName):
        names.check_new_name(name)


def test_nfc_normalization_makes_one_page():
    nfd = "Cre\u0300me"
    assert names.check_name(nfd) == "Cr\u00e8me"


def test_file_mapping_round_trips():
    assert names.page_file("Projects/Alpha") == "Projects/Alpha.md"
    assert names.page_name("Projects/Alpha.md") == "Projects/Alpha"
    assert names.page_name("image.png") is None
    assert names.page_name(".wiki/redirects.json") is None
    assert names.page_name(".md") is None


def test_breadcrumb_folders():
    assert [f.path for f in names.folders_of("A/B/C")] == ["A", "A/B"]
    assert names.folder_of("A/B/C") == "A/B" and names.folder_of("Home") == ""
