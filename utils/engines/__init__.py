"""The compute engines: local (pandas) and Apache Spark, behind one interface."""
