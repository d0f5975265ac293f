"""Knowledge bases: typed entities, relations and documents in a store with vector, full-text and
graph search (SQLite by default; PostgreSQL and Neo4j/Memgraph on a server).

:class:`~synaplex.knowledge.knowledge_base.KnowledgeBase` is the facade; each store
(``sqlite_store``…) translates the same typed search plans (``plans``) into its own
parameterized queries, never text written by a model.
"""
