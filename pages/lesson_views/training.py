"""The lessons that train (1, 3, 6, 7): their runs go through the run store and are shared by the class."""

from __future__ import annotations

import time

import altair as alt
import pandas as pd
import streamlit as st

from explorer import PRESETS
from explorer.i18n import N_, _
from explorer.lessons import charts, classruns, degradation, lesion, shake
from explorer.lessons.measured import MeasuredDataError, measured
from explorer.models.published import published_for, row_design, table
from pages import plain, say
from pages.lesson_views.common import (build_link, class_recipe, data_note, known_runs, progress, queue_buttons,
                                       reference_run, source_caption, store, text_table)
from pages.train_views.common import hide_paths


# ---------------------------------------------------------------------------------------------------- lesson 1
def lesson_degradation() -> None:
    st.markdown(_(
        "If a deeper net could always copy a shallower one and set its extra layers to the identity, it should "
        "never train worse. Yet plain nets do: **degradation**. A residual block only has to learn "
        "$F(x) = H(x) - x$, and the identity is $F = 0$:"))
    st.latex(r"y = F(x, \{W_i\}) + x")
    source_caption(_(degradation.SOURCE))
    recipe = class_recipe("degradation")
    data_note(recipe)
    queue_buttons(_("Queue plain-20, plain-56, ResNet-20, ResNet-56"), degradation.DESIGNS, recipe, "q_degradation")
    try:
        seeds = degradation.seed_finals(measured("degradation").table)
    except (MeasuredDataError, KeyError, ValueError):  # reference_run below says what is wrong with the file
        seeds = {}
    st.info(_("**Expected outcome.** {text}").format(text=degradation.expected(seeds)))  # counted from the reference table below
    reference_run("degradation", _("Our own run of the default settings (compare your class's curves with it)"))

    @st.fragment(run_every=5)
    def live() -> None:
        runs = known_runs(degradation.DESIGNS, recipe)
        progress(runs)
        frame = classruns.curves(store(), runs)
        if len(frame):
            last = frame[frame["split"] == "train"].groupby("net")["error"].last().to_dict()
            for line in degradation.verdict(last):
                st.markdown(f"- {line}")

    live()
    st.subheader(_("The paper's numbers"))
    rows = [{_("net"): label, _("published test error (%)"): (p.error if (p := published_for(name)) else None),
             _("params"): p.params_text if p else None}
            for label, name in (("plain-20", "plain20"), ("plain-56", "plain56"), ("ResNet-20", "resnet20"),
                                ("ResNet-56", "resnet56"))]
    st.table(text_table(pd.DataFrame(rows), precision=2, na_rep=_("Fig. 6 only")))  # params: the asset file's text
    source_caption(_("{source} ({kind}). Plain nets: {note} ({plain_source}).").format(
        source=published_for("resnet56").source, kind=published_for("resnet56").error_kind,
        note=table("plain")[0]["note"], plain_source=table("plain")[0]["source"]))


# ---------------------------------------------------------------------------------------------------- lesson 3
def lesson_shortcut() -> None:
    st.markdown(_(
        "Eq. (5) needs the shortcut to be the identity: anything else on it multiplies the gradient, "
        "layer after layer. For a scaled shortcut $h(x) = \\lambda x$:"))
    st.latex(r"\frac{\partial L}{\partial x_l} = \frac{\partial L}{\partial x_L}"
             r"\Big(\prod_{i=l}^{L-1}\lambda_i + \frac{\partial \hat F}{\partial x_l}\Big)")
    source_caption(_("He et al. 2016, Identity Mappings (1603.05027), eq. (7), Table 1 and Table 2."))
    base = PRESETS["resnet110"]
    t1 = pd.DataFrame(table("identity_table1"))
    t1["design"] = [row_design("identity_table1", key) for key in t1["key"]]
    t1["open"] = [build_link(s) for s in t1["design"]]
    st.subheader(_("Table 1: what the shortcut does (ResNet-110)"))
    st.dataframe(t1[["shortcut", "on_shortcut", "on_f", "error_text", "open"]], hide_index=True,
                 width="stretch", height=36 * (len(t1) + 1) + 4, column_config={
                     "on_shortcut": _("on shortcut"), "on_f": _("on F"),
                     "error_text": _("error (%)"),
                     "open": st.column_config.LinkColumn(_("Build page"), display_text=_("open design"))})
    source_caption(t1["source"].iloc[0])
    t2 = pd.DataFrame(table("identity_table2"))
    st.subheader(_("Table 2: where BN and ReLU sit (ResNet-110 and ResNet-164)"))
    t2["open 110"] = [build_link(base.replace(activation=a)) for a in t2["activation"]]
    t2["open 164"] = [build_link(PRESETS["preact_resnet164"].replace(activation=a)) for a in t2["activation"]]
    st.dataframe(t2[["unit", "resnet110", "resnet164", "open 110", "open 164"]], hide_index=True,
                 width="stretch", column_config={
                     "unit": _("unit"), "resnet110": _("ResNet-110 error (%)"),
                     "resnet164": _("ResNet-164 error (%)"),
                     "open 110": st.column_config.LinkColumn("110", display_text=_("open")),
                     "open 164": st.column_config.LinkColumn("164", display_text=_("open"))})
    source_caption(t2["source"].iloc[0])
    st.subheader(_("Run a row yourselves"))
    choices = {f"Table 1: {r.shortcut} ({r.on_shortcut} / {r.on_f})": r.design for r in t1.itertuples()}
    choices |= {f"Table 2: {r.unit} (ResNet-110)": base.replace(activation=r.activation) for r in t2.itertuples()}
    paper = {f"Table 1: {r.shortcut} ({r.on_shortcut} / {r.on_f})": r.error_text for r in t1.itertuples()}
    paper |= {f"Table 2: {r.unit} (ResNet-110)": f"{r.resnet110:.2f}" for r in t2.itertuples()}
    # The choices stay English: they name the papers' rows, and they are the runs' labels in the store.
    picked = st.multiselect(_("Designs to train (short runs, shared by the class)"), list(choices),
                            default=list(choices)[:1])
    recipe = class_recipe("shortcut")
    data_note(recipe)
    designs = {name: choices[name] for name in picked}
    queue_buttons(_("Queue short runs of the chosen rows"), designs, recipe, "q_shortcut")

    @st.fragment(run_every=5)
    def live() -> None:
        progress(known_runs(designs, recipe), paper)

    live()


# ---------------------------------------------------------------------------------------------------- lesson 6
def lesson_shake() -> None:
    st.markdown(_("Two residual branches, mixed by a random convex weight that changes every step, and a "
                  "*different* random weight on the way back:"))
    st.latex(r"x_{i+1} = x_i + \alpha_i F(x_i, W_i^{(1)}) + (1-\alpha_i) F(x_i, W_i^{(2)}),\qquad "
             r"\frac{\partial L}{\partial F^{(1)}} = \beta_i \frac{\partial L}{\partial x_{i+1}}")
    source_caption(_("Gastaldi 2017, Shake-Shake regularization (1705.07485), sec. 2; at test time alpha = 0.5."))
    c1, c2, c3, c4 = st.columns(4)
    forward_mode = c1.radio(_("Forward (alpha)"), ["shake", "even"], format_func=lambda v: _(shake.MODES[v]))
    backward_mode = c2.radio(_("Backward (beta)"), ["shake", "even", "keep"], format_func=lambda v: _(shake.MODES[v]))
    levels = {"image": N_("per image"), "batch": N_("per batch")}
    level = c3.radio(_("Level"), ["image", "batch"], format_func=lambda v: _(levels[v]))
    batch_size = c4.slider(_("Images in the batch"), 2, 32, 8)
    step = st.slider(_("Training step (move it to step through)"), 1, 50, 1)
    play = st.button(_("Play 20 steps"), icon=":material/play_arrow:")
    chart = st.empty()
    frame = shake.step_coefficients(batch_size, forward_mode, backward_mode, level, step - 1)
    for shown in range(step, step + 20) if play else [step]:
        frame = shake.step_coefficients(batch_size, forward_mode, backward_mode, level, shown - 1)
        chart.altair_chart(charts.shake_chart(frame, shown), width="stretch")
        if play:
            time.sleep(0.5)
    st.caption(_("Measured through the model's own ShakeFunction: branch 1's forward weight and the gradient it "
                 "receives equal alpha and beta; branch 2 gets 1 - alpha and 1 - beta."))
    with st.expander(_("The numbers for this step")):
        st.dataframe(frame.style.format(precision=3), hide_index=True, width="stretch")
    st.subheader(_("The paper's table beside the class's runs"))
    paper = shake.paper_table()
    st.table(text_table(paper.drop(columns=["settings", "source"]), precision=2))  # modes: the asset file's text
    source_caption(_("{source}; CIFAR-10 test error (%).").format(source=paper["source"].iloc[0]))
    recipe = class_recipe("shake")
    recipe = recipe.replace(lr=0.2, schedule="cosine")  # Shake-Shake's schedule, shortened
    data_note(recipe)
    designs = {f"{forward_mode}-{backward_mode}-{level}": shake.design(forward_mode, backward_mode, level)}
    queue_buttons(_("Queue a short run of Shake-Shake 26 2x32d with these modes"), designs, recipe, "q_shake")
    every = {f"{r.forward.lower()}-{r.backward.lower()}-{'image' if r.level == 'n/a' else r.level.lower()}":
             shake.design(r.forward.lower(), r.backward.lower(), "image" if r.level == "n/a" else r.level.lower())
             for r in paper.itertuples()}

    published_32 = {label: f"{row['2x32d']:.2f} (2x32d)"
                    for label, row in zip(every, paper.to_dict("records"))}

    @st.fragment(run_every=5)
    def live() -> None:
        progress(known_runs(every, recipe), published_32)

    live()


# ---------------------------------------------------------------------------------------------------- lesson 7
@st.cache_resource
def lesion_jobs() -> lesion.StudyJobs:
    """One background queue of lesion studies for the whole server (every session shares its results)."""
    return lesion.StudyJobs()


def lesson_lesion() -> None:
    st.markdown(_(
        "Unroll a residual net: with n blocks there are $2^n$ paths from input to output, of many lengths. "
        "Deleting one block removes only the paths through it; the rest still carry the signal. A plain net has "
        "a single path, so deleting any block breaks it."))
    st.latex(r"x_3 = x_0 + f_1(x_0) + f_2(x_0 + f_1(x_0)) + f_3\big(x_0 + f_1(x_0) + f_2(\cdots)\big)")
    source_caption(_(lesion.SOURCE))
    runs = [r for r in store().list_runs() if r.trained and r.spec.get("family") in ("plain", "resnet")
            and store().checkpoint_path(r.id).exists()]
    recipe = class_recipe("lesion")
    if not runs:
        st.info(_("No trained plain or residual run in the store yet. Queue a short ResNet-56 and plain-20, then "
                  "come back when they finish (with the default run length they are lesson 1's runs)."))
    data_note(recipe)
    queue_buttons(_("Queue short runs of ResNet-56 and plain-20"),
                  {"ResNet-56": PRESETS["resnet56"], "plain-20": PRESETS["plain20"]}, recipe, "q_lesion")
    reference_run("lesion", _("Our own lesion study of the default short runs (compare your class's with it)"))
    if not runs:
        return
    plans = lesion.plans(runs)  # from the stored designs: nothing is loaded to refuse one
    trained = {r.id: _training(r.id) for r in runs}  # (epochs, last test error %)
    weak = {r.id: why for r in runs if (why := lesion.undertrained(r, *trained[r.id])) is not None}
    names = {r.id: r.label for r in runs}
    if len(set(names.values())) < len(names):  # two runs of one design: tell their lines apart
        names = {r.id: f"{r.label} ({r.id})" for r in runs}
    labels = {r.id: (_("{net} ({run}, {epochs} epochs on {dataset}, {error}% test error)") if trained[r.id][1]
                     is not None else _("{net} ({run}, {epochs} epochs on {dataset})")).format(
                         net=r.label, run=r.id, epochs=trained[r.id][0], dataset=r.recipe.get("dataset"),
                         error=f"{trained[r.id][1]:.1f}" if trained[r.id][1] is not None else "")
              for r in runs}
    defaults = lesion.default_runs([r for r in runs if plans[r.id].refused is None], set(weak))
    picked = st.multiselect(_("Trained runs to lesion"), list(labels), default=defaults, format_func=labels.get,
                            help=_("By default the deepest residual run (the most paths) and the shallowest plain "
                                   "run (the plain net that trains best) that this machine can lesion within "
                                   "{seconds} s of work, passing over under-trained runs (over {error} test error, "
                                   "or under {epochs} epochs).").format(
                                       seconds=f"{lesion.MAX_STUDY_SECONDS:.0f}",
                                       error=f"{lesion.UNDERTRAINED_ERROR:.0f}%", epochs=lesion.MIN_EPOCHS))
    if defaults:
        why = {"resnet": _("the deepest residual run (the most paths)"),
               "plain": _("the shallowest plain run (the plain net that trains best)")}
        family = {r.id: r.spec.get("family") for r in runs}
        # Each "{}" is a run's label, filled in as plain text by say().
        chosen = "; ".join("{}, " + why[family[i]] for i in defaults)
        say("caption", (_("Lesioned by default: {chosen}, among the finished runs in the store that this machine can "
                          "lesion in time, passing over under-trained ones.") if weak else
                        _("Lesioned by default: {chosen}, among the finished runs in the store that this machine can "
                          "lesion in time.")).replace("{chosen}", chosen), *(labels[i] for i in defaults))
    for run_id in picked:
        if (refused := plans[run_id].refused) is not None:
            say("warning", _("Not lesioned: run {}. {}."), run_id, refused)
        elif run_id in weak:
            say("warning", _("Under-trained: {}. Queue the lesson's runs above for a trained net."), weak[run_id])
    ready = [i for i in picked if plans[i].refused is None]
    jobs = {i: lesion_jobs().get(store(), i, plans[i].images) for i in ready}
    if jobs and not all(job.done() for job in jobs.values()):
        with st.spinner(_("Deleting one block at a time and re-testing ...")):
            lesion.StudyJobs.wait(jobs.values())  # a few seconds at most; longer studies go on in the background
    pending = [i for i, job in jobs.items() if not job.done()]
    families = {names[r.id]: r.spec.get("family") for r in runs}
    st.fragment(run_every=3 if pending else None)(lesion_results)(jobs, plans, names, families, bool(pending))


def _training(run_id: str) -> tuple[int, float | None]:
    """How far a run trained: epochs finished and its last test error (%), None where it never tested."""
    done = classruns.epochs(store(), run_id)
    if not len(done):
        return 0, None
    last = float(done["test_error"].iloc[-1])
    return len(done), 100 * last if last == last else None


def lesion_results(jobs: dict, plans: dict, names: dict, families: dict, was_pending: bool) -> None:
    """The studies that are done, drawn; the others said to be running (this part looks again every 3 s)."""
    studied, skipped = lesion.studies([i for i, job in jobs.items() if job.done()],
                                      lambda run_id: jobs[run_id].result())
    for skip in skipped:
        say("warning", _("Skipped run {}: its checkpoint cannot be used ({})."), skip.run_id, hide_paths(skip.reason))
    pending = [i for i, job in jobs.items() if not job.done()]
    for run_id in pending:
        say("info", _("Lesion study of {} running in the background (about {} s of work on {} images, shared by the "
                      "whole class); its line appears here when it is done."),
            names[run_id], f"{plans[run_id].seconds:.0f}", plans[run_id].images)
    if was_pending and not pending:
        st.rerun()  # all done: draw once more without the refresh
    frames = [frame.assign(run=names[run_id]) for run_id, frame in studied.items()]
    if not frames:
        return
    frame = pd.concat(frames, ignore_index=True)
    base = frame[frame["deleted block"] == 0]
    lines = alt.Chart(frame[frame["deleted block"] > 0]).mark_line(point=alt.OverlayMarkDef(size=90),
                                                                   strokeWidth=4).encode(
        x=alt.X("deleted block:Q", title=_("deleted block (1 = nearest the input)"),
                axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("error (%):Q", title=_("test error (%)"), scale=alt.Scale(domain=[0, 100])),
        color=alt.Color("run:N", title=_("run")), tooltip=["run", "name", "downsampling", "error (%)"])
    rules = alt.Chart(base).mark_rule(strokeDash=[8, 4], size=2).encode(y="error (%):Q", color="run:N")
    # Veit et al. single out the downsampling blocks: ring them so the class can check that claim.
    rings = alt.Chart(frame[frame["downsampling"]]).mark_point(shape="square", size=320, strokeWidth=3,
                                                                 color="black").encode(
        x="deleted block:Q", y="error (%):Q", tooltip=["run", "name", "error (%)"])
    st.altair_chart(charts.styled(alt.layer(lines, rules, rings), height=500), width="stretch")
    results = {run: lesion.summary(group) for run, group in frame.groupby("run", sort=False)}
    st.table(text_table(pd.DataFrame([{"run": run, **s} for run, s in results.items()]), precision=1))
    st.caption(_("Dashed: the intact net's error. Black squares: the downsampling blocks. Veit et al. found a "
                 "residual net's line near its dashed line (except at the downsampling blocks) and a plain net's "
                 "at chance (90%); the more blocks, the more paths share the work."))
    # Said from the numbers on screen: a fixed "Expected" contradicted the chart of an under-trained run (defect 7).
    st.info(_("**What the chart shows.**") + "\n" + "\n".join(f"- {plain(line)}" for line in lesion.verdict(results, families)))
