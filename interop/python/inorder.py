"""Makes a python-engineio client handle its messages in the order they
arrived, for the interop clients.

python-engineio's Client (4.3.4, Debian 12) hands each message to its
handler on a thread of its own (run_async=True in _receive_packet), so two
messages can be handled in the other order; a loaded machine shows it. The
tests check the order on the wire: the messages are handled on the reading
thread instead, one after the other, as the JavaScript client does.
"""


def handle_in_order(eio_client):
    trigger = eio_client._trigger_event

    def in_order(event, *args, **kwargs):
        kwargs["run_async"] = False
        return trigger(event, *args, **kwargs)

    eio_client._trigger_event = in_order
