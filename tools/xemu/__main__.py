"""Command line: ``python -m xemu api|ccm|pki ...`` (see docs/emulator.md)."""

import argparse
import os
import signal
import sys

from xemu import pki
from xemu.httpbase import write_ready_file
from xemu.seed import DEFAULT_SEED, load_seed
from xemu.state import parse_iso


def _serve(server, ready_file, extra=None):
    payload = {'url': server.url, 'pid': os.getpid()}
    payload.update(extra or {})
    if ready_file:
        write_ready_file(ready_file, payload)
    sys.stdout.write('listening on %s\n' % server.url)
    sys.stdout.flush()

    def _stop(_signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def cmd_api(args):
    from xemu.server import make_server  # pylint: disable=import-outside-toplevel
    seed = load_seed(args.seed)
    if args.aaa_end:
        parse_iso(args.aaa_end)
        seed['settings']['aaa_end'] = args.aaa_end
    server = make_server(seed, args.host, args.port, args.tls_cert, args.tls_key, args.crc_ca_bundle,
                         args.resolve, quiet=args.quiet)
    return _serve(server, args.ready_file)


def cmd_ccm(args):
    from xemu.ccm import CcmServer  # pylint: disable=import-outside-toplevel
    server = CcmServer((args.host, args.port), args.env_file, args.path, args.tls_cert, args.tls_key, quiet=args.quiet)
    return _serve(server, args.ready_file, {'webhook_path': args.path})


def cmd_pki(args):
    if args.pki_command == 'ca':
        ca = pki.make_ca(args.out, args.cn)
        sys.stdout.write('%s\n%s\n' % (ca.cert_path, ca.key_path))
    else:
        leaf = pki.issue_cert(pki.CA(args.ca), args.name, args.out)
        sys.stdout.write('%s\n%s\n%s\n' % (leaf.cert_path, leaf.key_path, leaf.fullchain_path))
    return 0


def _server_args(parser):
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=0, help='0 picks a free port')
    parser.add_argument('--tls-cert', help='PEM certificate (chain); serves HTTPS when given')
    parser.add_argument('--tls-key', help='PEM private key for --tls-cert')
    parser.add_argument('--ready-file', help='written as JSON {"url", "pid"} once listening')
    parser.add_argument('--quiet', action='store_true', help='no access log on stderr')


def build_parser():
    parser = argparse.ArgumentParser(prog='python -m xemu', description='Local X API emulator and CCM stand-in')
    sub = parser.add_subparsers(dest='command', required=True)

    p_api = sub.add_parser('api', help='serve the X API emulator')
    p_api.add_argument('--seed', default=DEFAULT_SEED, help='seed file, JSON or YAML (default: bundled default.yml)')
    _server_args(p_api)
    p_api.add_argument('--crc-ca-bundle', help='CA bundle used to verify webhook TLS during CRC and deliveries')
    p_api.add_argument('--resolve', action='append', default=[], metavar='HOST:443:ADDR:PORT',
                       help='like curl --resolve: connect HOST:443 to ADDR:PORT (repeatable)')
    p_api.add_argument('--aaa-end', metavar='ISO8601',
                       help='end of the Account Activity API on the emulator clock (default: the seed\'s '
                            'settings.aaa_end, 2027-01-01T00:00:00Z)')
    p_api.set_defaults(func=cmd_api)

    p_ccm = sub.add_parser('ccm', help='serve the CCM stand-in')
    p_ccm.add_argument('--env-file', required=True, help='env file with TWITTER_CONSUMER_SECRET=...')
    p_ccm.add_argument('--path', default='/ccm/webhook/twitter', help='webhook path (CRC GET and event POST)')
    _server_args(p_ccm)
    p_ccm.set_defaults(func=cmd_ccm)

    p_pki = sub.add_parser('pki', help='test CA and leaf certificates')
    pki_sub = p_pki.add_subparsers(dest='pki_command', required=True)
    p_ca = pki_sub.add_parser('ca', help='create a CA in DIR (ca.pem, ca.key)')
    p_ca.add_argument('--out', required=True)
    p_ca.add_argument('--cn', default='xemu test CA')
    p_leaf = pki_sub.add_parser('leaf', help='issue cert.pem/key.pem/fullchain.pem for --name(s)')
    p_leaf.add_argument('--ca', required=True, help='directory made by "pki ca"')
    p_leaf.add_argument('--name', action='append', required=True, help='DNS name or IP (repeatable)')
    p_leaf.add_argument('--out', required=True)
    p_pki.set_defaults(func=cmd_pki)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == '__main__':
    sys.exit(main())
