"""Loaded into the runtime test's emulator only (PYTHONPATH, scripts/runtime_test.sh): moto's IAM
enforcement checks each request's SigV4 signature against the bytes that were signed, as AWS does.

moto's server parses a form-encoded body (the query protocol of EC2, Auto Scaling, SNS) and
throws the bytes away; its signature check then signs the parsed fields encoded again by
botocore, which writes a space as `+`. The Rust SDK writes it as `%20` (both are valid form
encodings, and AWS checks the bytes sent), so every Rust request with a space in a value (a tag
value, a rule description, a report) was refused with AuthFailure / SignatureDoesNotMatch, a
refusal AWS never makes. Here the body is read (and cached) before moto parses it, so moto's
check signs the bytes as received. Nothing else changes: form parsing reads werkzeug's cache,
and the recorder still sees the body.
"""
import io

try:
    import flask
    from moto.core import utils
except ImportError:  # another Python started with this PYTHONPATH (env.sh's free_port): not moto
    utils = None


def _keep_signed_bytes(call):
    def __call__(self, *args, **kwargs):
        raw = flask.request.get_data(cache=True)
        # The recorder reads the WSGI stream itself: give it the bytes again.
        flask.request.environ["wsgi.input"] = io.BytesIO(raw)
        return call(self, *args, **kwargs)

    return __call__


if utils is not None:
    utils.convert_to_flask_response.__call__ = _keep_signed_bytes(utils.convert_to_flask_response.__call__)
