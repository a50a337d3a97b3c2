"""NATS JetStream (nats-py): the bus consumer books external events; see consumer.py."""
