"""The submission service: ``dl4f serve`` (web app) and ``dl4f worker`` (graders), over a SQL database.

The web process stores submissions and shows results; it never runs student code. Workers claim jobs from the
database queue (``queue``) and grade them with the trusted engine (``dl4f_grading.engine``). See the README's
"Submission service" section.
"""
