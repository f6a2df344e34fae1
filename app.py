"""ResNet Explorer: entry file. Pages live in pages/; logic lives in the explorer library.

It runs before every page: it sets the run's language (explorer.i18n) and draws the language switch, then runs
the chosen page.
"""

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from explorer import i18n
from explorer.draw.lineage import FAMILY_TREE_NODES, family_tree_dot
from explorer.i18n import _

st.set_page_config(page_title="ResNet Explorer", page_icon="🧱", layout="wide")
PHONE_WIDTH = 640  # px: under it Streamlit stacks columns
TREE_MIN_WIDTH = 900  # px: the family tree's narrowest drawing, 12 px node text (its natural width is 1,290 px)
LANG = i18n.QUERY_KEY  # the URL parameter (?lang=ko) and the switch's session-state key


def browser_language() -> str:
    return i18n.from_browser(st.context.locale, st.context.headers.get("Accept-Language"))


def choose_language() -> str:
    """This run's language: the link's ?lang= (an unknown value is English), else the one this session chose,
    else the browser's. The parameter then leaves st.query_params until the page has run (`keep_in_url`), so
    the pages, which write their own parameters, neither see it nor drop it."""
    if LANG in st.query_params:
        lang = i18n.from_query(st.query_params[LANG])
        del st.query_params[LANG]
    elif (chosen := st.session_state.get(LANG)) in i18n.LANGUAGES:
        lang = chosen
    else:
        lang = browser_language()
    st.session_state[LANG] = lang  # also the switch's value on a page where it is drawn for the first time
    return lang


def session_language() -> object:
    """The language of the session whose script runs in this thread: a fragment's rerun runs without app.py."""
    return st.session_state.get(LANG) if get_script_run_ctx(suppress_warning=True) else None


def on_switch() -> None:
    st.query_params.pop(LANG, None)  # the switch, not a stale link, decides this run


def keep_in_url(lang: str) -> None:
    """Put the language into the URL, so that a copied link opens in it, unless it is English for an English
    browser (the page's own parameters stay as they were)."""
    if lang != i18n.DEFAULT or browser_language() != i18n.DEFAULT:
        st.query_params[LANG] = lang
    else:
        st.query_params.pop(LANG, None)


def home() -> None:
    st.title("ResNet Explorer")
    st.write(_(
        "Build any design from the residual-network papers, from plain nets and VGG to ResNet, its pre-activation "
        "variants, Wide ResNet, ResNeXt, PyramidNet, Shake-Shake, DenseNet, SE and FractalNet. See what it costs "
        "(parameters, multiply-adds, memory) beside what its paper reported, look inside its blocks, compare "
        "designs side by side, and train one on CIFAR-10."))
    st.subheader(_("Which paper led to which"))
    # On a phone the tree keeps a readable width and scrolls sideways (stretched to 350 px its text was 3 px).
    # Constant CSS, no user text.
    st.html(f"<style>@media (max-width: {PHONE_WIDTH}px) {{.st-key-family_tree {{overflow-x: auto;}} "
            f".st-key-family_tree [data-testid='stGraphVizChart'] {{min-width: {TREE_MIN_WIDTH}px;}}}}</style>")
    with st.container(key="family_tree"):
        st.graphviz_chart(family_tree_dot(), width="stretch")
    st.caption(_("Open a family on the Build page:"))
    links = [(label.split("\n")[0], params) for _key, label, params in FAMILY_TREE_NODES]
    links[0] = ("VGG", {"family": "vgg"})
    links.insert(1, (_("Plain net (no shortcuts)"), {"family": "plain"}))
    for row in range(0, len(links), 4):  # row by row: a phone stacks each row's columns in reading order
        for col, (label, params) in zip(st.columns(4), links[row:row + 4]):
            col.page_link("pages/build.py", label=label, query_params=params, icon=":material/arrow_forward:")
    st.subheader(_("Start here"))
    teacher, student = st.columns(2)
    teacher.markdown(_(
        "**Teachers.** Open **Build** and pick `plain56`, then `resnet56`, from *Start from a preset*: the same "
        "layers and parameter count, but the shortcut lets the deeper net train (He et al. 2015, Fig. 6). Copy "
        "the page's URL into your slides: the link reopens the exact design, in the language you chose. "
        "**Compare** puts up to four designs in one table and plots every preset's published error against its "
        "size. **Lessons** has guided walk-throughs."))
    student.markdown(_(
        "**Students.** Start with `resnet20` on **Build**. Change one setting at a time (depth, width factor k, "
        "shortcut option, activation placement) and watch the parameter count, the graph and the block detail "
        "change. A green box means a paper trained exactly this design; a blue note means you have made "
        "something new. Then **Train** it for a few epochs and see whether it learns."))
    st.info(_("Every number here comes from the same spec that builds the PyTorch model, so the graph, the "
              "summary and the costs cannot disagree with the network you train."))


lang = choose_language()
i18n.set_language(lang)  # this session's thread only: a context variable (explorer.i18n)
i18n.set_session_language(session_language)  # and for the fragments' reruns, which run in threads of their own
if lang == "ko":  # Korean lines break between words (어절), not inside one (Streamlit's text breaks anywhere)
    # In table cells `anywhere` would also shrink the cell's min-content width, so a table squeezes its columns
    # and breaks inside words (seen on Build's figure table: "테스트 오 / 류율"); `break-word` wraps only an overlong word.
    st.html("<style>.stApp :is(p, li, h1, h2, h3, h4, label) {word-break: keep-all; overflow-wrap: anywhere;} "
            ".stApp :is(td, th), .stApp :is(td, th) :is(p, div) "  # !important: Streamlit's cell rule is more specific
            "{word-break: keep-all !important; overflow-wrap: break-word !important;}"
            "</style>")  # constant CSS
st.sidebar.segmented_control("Language · 언어", list(i18n.LANGUAGES), format_func=i18n.LANGUAGES.__getitem__,
                             required=True, key=LANG, on_change=on_switch)
page = st.navigation([
    # TRANSLATORS: the page names in the sidebar; the Home page's texts name them in bold: translate both alike.
    st.Page(home, title=_("Home"), icon=":material/home:", default=True),
    st.Page("pages/build.py", title=_("Build"), icon=":material/construction:", url_path="build"),
    st.Page("pages/compare.py", title=_("Compare"), icon=":material/compare_arrows:", url_path="compare"),
    st.Page("pages/train.py", title=_("Train"), icon=":material/model_training:", url_path="train"),
    st.Page("pages/sweep.py", title=_("Sweep"), icon=":material/grid_on:", url_path="sweep"),
    st.Page("pages/lessons.py", title=_("Lessons"), icon=":material/school:", url_path="lessons"),
])
try:
    page.run()
finally:  # also when the page stops (st.stop) or reruns: the link keeps its language
    keep_in_url(lang)
