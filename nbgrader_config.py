"""nbgrader configuration of the course (run nbgrader from the repository root).

    solutions/<assignment>/   the instructor's source notebooks (solutions, hidden tests)
    exercises/<assignment>/   the student versions (`nbgrader generate_assignment`; committed)
    submitted/<student>/<assignment>/, autograded/, feedback/   grading work folders (not committed)
    gradebook.db              the sqlite gradebook (not committed)
"""

import os

c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(c.CourseDirectory.root, "gradebook.db")
# Only the notebooks go to the students (no data, no checkpoints).
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "*.db", "*-corrected.ipynb"]

# Executing a notebook: the kernel that runs the course (the `python3` kernel of the environment that
# runs nbgrader; jupyter_client replaces its `python` with that environment's interpreter).
c.Execute.kernel_name = "python3"
# nbgrader's default of 30 s per cell kills the training cells: the two-layer models take 1-2 minutes.
# 600 s bounds a runaway cell (e.g. a Python loop over the time steps, unrolled by JAX).
c.Execute.timeout = 600
c.Execute.startup_timeout = 120

# The student version keeps no output (outputs of the source are the instructor's run).
c.ClearOutput.enabled = True
