"""Data: MovieLens layouts, reading, validation and download; typed schemas; the rating matrices
(index maps, the lab's dense Y/R and their sparse triples); a synthetic MovieLens generator."""
