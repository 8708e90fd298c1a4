"""The market-wide optimiser: from the open postings of a fortnight and the technologists who
may take them (`build.problem_for`, through the same eligibility as the ranking), a proposal of
one technologist per posting (`solve`), each choice with its reasons."""
