"""The research harness: the paper's ablation, the noisy-OR diagnosis and their statistics.

Apart from the product (`mdn_tf.training`, `mdn_tf.evaluation`, ...), which
it uses and which never imports it:

- `ablation_plan.py` (what is trained, the tables' layout), `paper_tables.py`
  (the paper's numbers), `budget.py` (epochs, sizes), `ablation.py` (jobs
  and the run), `ablation_runner.py` (training and scoring one job,
  resumable), `ablation_report.py` (tables and chart);
- `voting_rules.py`: a post-hoc network scored with other voting rules;
- `seed_statistics.py`: mean ± std over seeds, paired differences, 95% intervals;
- `noisy_or_diagnosis.py` with `map_diagnostics.py`: why noisy-OR trails;
- `loss_minimum.py`: is a perfect network the loss's minimum?

Commands: `mdn-tf ablation` (`training/ablation.py`),
`training/diagnose_noisy_or.py`, `training/final_loss_table.py`.
"""
