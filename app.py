"""ResNet Explorer: entry file. Pages live in pages/; logic lives in the explorer library."""

import streamlit as st

from explorer.draw.lineage import FAMILY_TREE_NODES, family_tree_dot

st.set_page_config(page_title="ResNet Explorer", page_icon="🧱", layout="wide")


def home() -> None:
    st.title("ResNet Explorer")
    st.write(
        "Build any design from the residual-network papers, from plain nets and VGG to ResNet, its pre-activation "
        "variants, Wide ResNet, ResNeXt, PyramidNet, Shake-Shake, DenseNet, SE and FractalNet. See what it costs "
        "(parameters, multiply-adds, memory) beside what its paper reported, look inside its blocks, compare "
        "designs side by side, and train one on CIFAR-10.")
    st.subheader("Which paper led to which")
    st.graphviz_chart(family_tree_dot(), width="stretch")
    st.caption("Open a family on the Build page:")
    links = [(label.split("\n")[0], params) for _, label, params in FAMILY_TREE_NODES]
    links[0] = ("VGG", {"family": "vgg"})
    links.insert(1, ("Plain net (no shortcuts)", {"family": "plain"}))
    cols = st.columns(4)
    for i, (label, params) in enumerate(links):
        cols[i % 4].page_link("pages/build.py", label=label, query_params=params, icon=":material/arrow_forward:")
    st.subheader("Start here")
    teacher, student = st.columns(2)
    teacher.markdown(
        "**Teachers.** Open **Build** and pick `plain56`, then `resnet56`, from *Start from a preset*: the same "
        "layers and parameter count, but the shortcut lets the deeper net train (He et al. 2015, Fig. 6). Copy "
        "the page's URL into your slides: the link reopens the exact design. **Compare** puts up to four designs "
        "in one table and plots every preset's published error against its size. **Lessons** has guided "
        "walk-throughs.")
    student.markdown(
        "**Students.** Start with `resnet20` on **Build**. Change one setting at a time (depth, width factor k, "
        "shortcut option, activation placement) and watch the parameter count, the graph and the block detail "
        "change. A green box means a paper trained exactly this design; a blue note means you have made "
        "something new. Then **Train** it for a few epochs and see whether it learns.")
    st.info("Every number here comes from the same spec that builds the PyTorch model, so the graph, the summary "
            "and the costs cannot disagree with the network you train.")


st.navigation([
    st.Page(home, title="Home", icon=":material/home:", default=True),
    st.Page("pages/build.py", title="Build", icon=":material/construction:", url_path="build"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
    st.Page("pages/lessons.py", title="Lessons", icon=":material/school:", url_path="lessons"),
]).run()
