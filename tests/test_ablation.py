"""training/ablation.py: the plan of the four tables, its statistics and outputs."""

import importlib.util
import os
import json
import math
import pathlib

import pytest

from mdn_tf.research.voting_rules import VotingRule
from mdn_tf.inference.decode import DECODE_VERSION
from mdn_tf.research import ablation_runner
from mdn_tf.research import paper_tables
from mdn_tf.research.ablation_plan import GAUSSIAN_SIZES, plan, scaled_kernel
from mdn_tf.research.ablation_report import summarize_rows

REPO = pathlib.Path(__file__).resolve().parents[1]


def _ablation_script():
    spec = importlib.util.spec_from_file_location("ablation", REPO / "training" / "ablation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_plan_holds_the_rows_of_the_papers_three_tables_and_the_verdict():
    rows, configs = plan()
    table1 = [r.label for r in rows if r.table == 1]
    assert table1[0] == "no voting" and "STN" in table1 and "STN heatmaps (no warp)" in table1
    posthoc = [r for r in rows if r.table == 1 and r.label.startswith("post-hoc")]
    assert len(posthoc) == 3 * (1 + len(GAUSSIAN_SIZES))  # 3 rules x (bilinear + 6 Gaussians)
    assert len({r.config for r in posthoc}) == 1  # one trained network, every rule
    assert {"MDN additive, kf=5", "MDN noisy-OR, kf=11"} <= set(table1)
    assert {r.config.capacity for r in rows if r.table == 2} == {16, 32}
    assert all(r.config.edges == "cross_part" for r in rows
               if r.table == 3 and r.config.variant != "baseline" and "within" not in r.label)
    # Table 4: four arms, each fine-tuned from Table 1's post-hoc network.
    arms = {r.config for r in rows if r.table == 4}
    assert {c.variant for c in arms} == {"baseline", "posthoc", "mdn"} and len(arms) == 4
    assert {c.init for c in arms} == {next(r.config for r in posthoc)}
    assert all(configs.index(c.init) < configs.index(c) for c in arms)
    # Shared networks are trained once: 9 for Table 1, 4 more for Table 2, 4 for
    # Table 3, 4 fine-tuned arms for Table 4.
    assert len(configs) == 21 and len({c.key for c in configs}) == 21


def test_every_row_prints_the_papers_number_where_the_paper_has_the_cell():
    rows, _ = plan()
    missing = [r.key for r in rows if r.paper is None]
    # The STN's unwarped heatmaps are this project's diagnostic, not a paper cell.
    assert missing == ["t1/STN heatmaps (no warp)"]
    by_key = {r.key: r.paper for r in rows}
    assert by_key["t1/no voting"] == 84.31 and by_key["t3/no voting"] == 83.96
    assert by_key["t1/post-hoc max, kf=13"] == 85.12
    assert by_key["t1/MDN noisy-OR, kf=11"] == 88.32
    assert by_key["t2/width 16: MDN noisy-OR"] == paper_tables.CAPACITY["ResNet-50"][
        "MDN noisy-OR"] == 87.25
    assert by_key["t3/MDN additive, kf=5"] == 88.08
    assert by_key["t4/MDN additive, bilinear"] == 88.60


@pytest.mark.parametrize("kf,map_size,window,sigma", [
    (5, 64, 5, 5 / 6), (13, 64, 13, 13 / 6),  # the paper's own geometry
    (11, 32, 7, 11 / 12), (5, 32, 3, 5 / 12), (3, 32, 3, 0.25), (13, 16, 5, 13 / 24)])
def test_kernels_cover_the_share_of_the_crop_that_the_papers_do(kf, map_size, window, sigma):
    got_window, got_sigma = scaled_kernel(kf, map_size)
    assert got_window == window and got_sigma == pytest.approx(sigma)
    assert got_window >= kf * map_size / 64  # never narrower than the scaled window
    rows, configs = plan(map_size=map_size)
    mdn = next(c for c in configs if c.variant == "mdn" and c.kernel == "gaussian")
    options = mdn.options(map_size)
    assert options["kernel_sigma"] == float(f"{scaled_kernel(mdn.kernel_size, map_size)[1]:.6g}")


def _fake_results(configs, seeds, rule_scores):
    results = {}
    for config in configs:
        for seed in seeds:
            own = {"Mean": 50.0 + seed, "Mean@0.1": 5.0, "AUC": 20.0}
            rules = {name: {"Mean": score + seed, "Mean@0.1": 1.0, "AUC": 2.0}
                     for name, score in rule_scores.items()}
            results[(config.key, seed)] = {"own": own, "rules": rules}
    return results


def test_each_posthoc_rule_reports_its_own_evaluation():
    # Before: the loop over evaluated rules overwrote the training result with the
    # additive score, and the noisy-OR row reused it.
    rows, configs = plan([2])
    scores = {VotingRule("additive").name: 72.13, VotingRule("noisy_or").name: 71.52}
    summary = summarize_rows(rows, _fake_results(configs, [0, 1, 2], scores), [0, 1, 2])
    posthoc = {e["label"]: e["Mean"]["mean"] for e in summary
               if e["label"].startswith("width 32: post-hoc")}
    assert posthoc == {"width 32: post-hoc additive": pytest.approx(73.13),
                       "width 32: post-hoc noisy-OR": pytest.approx(72.52)}


def test_rows_carry_paired_differences_against_their_references():
    rows, configs = plan([2])
    scores = {VotingRule("additive").name: 60.0, VotingRule("noisy_or").name: 55.0}
    summary = {e["label"]: e for e in summarize_rows(rows, _fake_results(configs, [0, 1], scores),
                                                      [0, 1])}
    compare = summary["width 16: post-hoc noisy-OR"]["compare"][0]
    assert compare["against"] == "width 16: no voting"
    assert compare["differences"] == [5.0, 5.0] and compare["low"] == compare["high"] == 5.0
    assert compare["Mean@0.1"]["differences"] == [-4.0, -4.0]  # the strict threshold too
    mdn = summary["width 16: MDN noisy-OR"]
    assert [c["against"] for c in mdn["compare"]] == [
        "width 16: no voting", "width 16: post-hoc noisy-OR", "width 16: MDN additive"]
    assert math.isclose(mdn["Mean"]["std"], math.sqrt(0.5))


def test_a_finished_job_is_not_trained_again(tmp_path):
    folder = tmp_path / "job"
    folder.mkdir()
    result = {"identity": {"seed": 0}, "own": {"Mean": 1.0, "Mean@0.1": 0.0, "AUC": 0.0},
              "rules": {"additive/bilinear": {}}, "seconds": 1.0,
              "decode_version": DECODE_VERSION}
    (folder / ablation_runner.RESULT_FILE).write_text(json.dumps(result))
    path = str(folder / ablation_runner.RESULT_FILE)
    job = {"identity": {"seed": 0}, "folder": str(folder), "rules": [VotingRule("additive")],
           "edges": "within_part", "result_file": path}
    assert ablation_runner.run_job(job)["cached"] is True
    # Other training options or a rule it did not score: the job runs again.
    assert ablation_runner.cached_result(path, {"seed": 1}, []) is None
    assert ablation_runner.cached_result(path, {"seed": 0}, ["max/bilinear"]) is None


def test_a_network_scored_by_an_older_decoder_is_scored_again_not_retrained(tmp_path):
    result = {"identity": {"seed": 0}, "own": {}, "rules": {}, "decode_version": 1}
    path = str(tmp_path / "seed_0.json")
    (tmp_path / "seed_0.json").write_text(json.dumps(result))
    assert ablation_runner.cached_result(path, {"seed": 0}, []) is None
    assert ablation_runner.trained_model(str(tmp_path), path, {"seed": 0}) is None  # no model
    (tmp_path / "model.keras").write_bytes(b"")
    assert ablation_runner.trained_model(str(tmp_path), path, {"seed": 0}) == str(
        tmp_path / "model.keras")
    assert ablation_runner.trained_model(str(tmp_path), path, {"seed": 1}) is None


# Slow: 30 small trainings (~4 min on 2 cores); the one-table run below keeps the
# ablation's train, score, report and --report-only path on the default test command.
@pytest.mark.slow
def test_quick_ablation_writes_the_four_tables_as_markdown_json_and_png(tmp_path):
    assert _ablation_script().main(["--quick", "--output-dir", str(tmp_path)]) == 0
    document = json.loads((tmp_path / "ablation.json").read_text())
    assert {e["table"] for e in document["rows"]} == {1, 2, 3, 4}
    markdown = (tmp_path / "ablation.md").read_text()
    for title in ("Table 1", "Table 2", "Table 3", "Table 4"):
        assert title in markdown
    assert "± " in markdown and "vs no voting" in markdown
    # 11 networks (bilinear MDNs only) + 4 fine-tuned arms, x 2 seeds
    assert len(document["jobs"]) == 15 * 2
    assert all(len(e["Mean"]["values"]) == 2 for e in document["rows"])
    assert (tmp_path / "ablation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # One result file per job, and the tables rebuilt from them alone.
    assert len(list((tmp_path / "jobs").glob("*/seed_*.json"))) == 30
    (tmp_path / "ablation.md").unlink()
    assert _ablation_script().main(["--quick", "--output-dir", str(tmp_path),
                                    "--report-only"]) == 0
    assert (tmp_path / "ablation.md").read_text() == markdown.replace(
        markdown.splitlines()[0], (tmp_path / "ablation.md").read_text().splitlines()[0])


def _parse(*argv):
    from mdn_tf.cli import ablation as ablation_cli

    parser = ablation_cli.argparse.ArgumentParser()
    ablation_cli.add_arguments(parser)
    return ablation_cli.resolve(parser.parse_args(list(argv)))


def test_one_table_with_one_seed_trains_scores_and_rebuilds_from_its_job_files(tmp_path):
    # Table 3 of the quick ablation, one seed: 3 small trainings (~30 s).
    quick = ["--quick", "--tables", "3", "--seeds", "1", "--output-dir", str(tmp_path)]
    assert _ablation_script().main(quick) == 0
    document = json.loads((tmp_path / "ablation.json").read_text())
    assert {e["table"] for e in document["rows"]} == {3} and len(document["jobs"]) == 3
    assert all(len(e["Mean"]["values"]) == 1 for e in document["rows"])
    markdown = (tmp_path / "ablation.md").read_text()
    assert "Table 3" in markdown and "vs no voting" in markdown
    assert (tmp_path / "ablation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(list((tmp_path / "jobs").glob("*/seed_*.json"))) == 3
    (tmp_path / "ablation.md").unlink()
    assert _ablation_script().main([*quick, "--report-only"]) == 0
    rebuilt = (tmp_path / "ablation.md").read_text()
    assert rebuilt.splitlines()[1:] == markdown.splitlines()[1:]  # line 1: the run's timing


def _args(tmp_path, *extra):
    from mdn_tf.research import ablation

    return ablation, _parse("--output-dir", str(tmp_path), "--results-dir",
                            str(tmp_path / "jobs"), *extra)


def test_the_full_run_on_the_sample_keeps_its_job_results_in_the_repository(tmp_path):
    from mdn_tf.cli import ablation as ablation_cli

    parser = ablation_cli.argparse.ArgumentParser()
    ablation_cli.add_arguments(parser)
    full = ablation_cli.resolve(parser.parse_args([]))
    assert full.results_dir == os.path.join("docs", "results", "jobs")
    quick = ablation_cli.resolve(parser.parse_args(["--quick", "--output-dir", str(tmp_path)]))
    assert quick.results_dir == str(tmp_path / "jobs")


def test_verdict_arms_start_from_the_post_hoc_network_of_their_own_seed(tmp_path):
    cli, args = _args(tmp_path, "--seeds", "2", "--verdict-seeds", "4")
    rows, configs = plan((1, 4), map_size=cli.map_size(args))
    jobs = cli.make_jobs(args, rows, configs)
    posthoc = [j for j in jobs if j["config"].key == "posthoc_w32_within"]
    assert [j["seed"] for j in posthoc] == [0, 1, 2, 3]  # the verdict needs 4 starts
    assert len([j for j in jobs if j["config"].key == "baseline_w32"]) == 2
    for job in jobs:
        if job["config"].init is not None:
            start = job["options"]["init_weights"]
            assert start == f"{posthoc[job['seed']]['folder']}/model.keras"
            assert job["result_file"].endswith(f"seed_{job['seed']}.json")
    assert all(j["result_file"].startswith(str(tmp_path / "jobs")) for j in jobs)


def test_a_missing_start_network_is_trained_again_for_a_pending_arm(tmp_path):
    cli, args = _args(tmp_path, "--seeds", "1", "--verdict-seeds", "1")
    rows, configs = plan((4,))
    jobs = cli.make_jobs(args, rows, configs)
    start = next(j for j in jobs if j["config"].init is None)
    # The start's scores came from another machine: result file, no model.keras.
    os.makedirs(os.path.dirname(start["result_file"]))
    with open(start["result_file"], "w") as f:
        json.dump({"identity": start["identity"], "own": {}, "rules": {},
                   "decode_version": DECODE_VERSION}, f)
    assert cli.make_jobs(args, rows, configs)[0].get("force") is True
    os.makedirs(start["folder"])
    open(os.path.join(start["folder"], "model.keras"), "wb").close()
    assert not cli.make_jobs(args, rows, configs)[0].get("force")


def test_a_jobs_identity_is_what_it_trains_not_where(tmp_path):
    from mdn_tf.research import ablation

    rows, configs = plan((4,))
    here = ablation.make_jobs(_parse("--output-dir", str(tmp_path / "a")), rows, configs)
    there = ablation.make_jobs(_parse("--output-dir", str(tmp_path / "b")), rows, configs)
    assert [j["identity"] for j in here] == [j["identity"] for j in there]
    assert here[0]["options"]["output_dir"] != there[0]["options"]["output_dir"]
    assert len({json.dumps(j["identity"], sort_keys=True) for j in here}) == len(here)


def test_the_committed_job_results_are_todays_jobs(tmp_path):
    # The full run's results in docs/results/jobs rebuild every table (--report-only)
    # from any output folder: none is stale for today's training options.
    from mdn_tf.research import ablation

    args = _parse("--output-dir", str(tmp_path))
    args.results_dir = str(REPO / "docs" / "results" / "jobs")
    rows, configs = plan(args.tables, map_size=ablation.map_size(args))
    jobs = ablation.make_jobs(args, rows, configs)
    assert len(jobs) == 88
    assert all(result is not None for result in ablation_runner.load_results(jobs))
