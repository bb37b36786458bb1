"""The ``cofi`` command: argument parsing and printing over cofi's API, nothing computed.

    cofi run [pipeline options]        run the cofi-pipeline flow once (python -m flows.pipeline)
    cofi recommend --user 42           a user's top picks from the published model
    cofi rate [--file my-ratings.csv]  rate movies as a new user (or from a file), see your picks
    cofi similar --movie "Toy Story"   movies like one, by learned features
    cofi eval                          the published run's held-out metrics, rating and ranking

Everything but ``run`` asks the last published run (:class:`cofi.outputs.published.PublishedRun`)
and needs only the cofi library; ``run`` loads Prefect. A problem is reported in one line and exit
status 2, never a traceback.
"""
