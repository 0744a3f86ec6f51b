"""The paper's reproduction: which runs, the job that trains and evaluates them, the
claims, the results page, publishing under models/."""
