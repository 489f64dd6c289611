"""PostgreSQL for the test run (``abvlmq_web.test_settings``): the stock backend, with a
transactional test's flush done by DELETE rather than TRUNCATE (see ``base``)."""
