"""dl4f_grading: the instructor's grading engine (never installed for students; never imported in a sandbox).

The grading path reads in file order:

- ``sandbox``: run a student's notebook under bubblewrap, with time and memory caps;
- ``compose``: the notebook to run (the student version's locked cells, the student's answers);
- ``engine``: one submission: compose -> sandboxed run -> artifacts -> trusted checks (``judge``, in a fresh
  process) -> a result and an autograded notebook;
- ``<tp>`` (``tp_rnn``...): one module per TP: the checks, thresholds and points of each graded cell;
- ``gradebook``: the coordinator writes results into nbgrader's gradebook (only the coordinator does);
- ``grade``: a whole class, in parallel on this machine or on a Dask cluster, resumable.
"""
