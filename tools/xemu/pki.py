"""A throw-away test CA and leaf certificates (cryptography); private keys are written with mode 0600.

CA directory: ca.pem, ca.key.  Leaf directory: cert.pem, key.pem, fullchain.pem (leaf + CA).
"""

import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


class CA:
    def __init__(self, directory):
        self.dir = directory
        self.cert_path = os.path.join(directory, 'ca.pem')
        self.key_path = os.path.join(directory, 'ca.key')

    def load(self):
        with open(self.cert_path, 'rb') as handle:
            cert = x509.load_pem_x509_certificate(handle.read())
        with open(self.key_path, 'rb') as handle:
            key = serialization.load_pem_private_key(handle.read(), password=None)
        return cert, key


class Leaf:
    def __init__(self, directory, names):
        self.dir = directory
        self.names = list(names)
        self.cert_path = os.path.join(directory, 'cert.pem')
        self.key_path = os.path.join(directory, 'key.pem')
        self.fullchain_path = os.path.join(directory, 'fullchain.pem')


def _write(path, data, mode):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, 'wb') as handle:
        handle.write(data)
    os.chmod(path, mode)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_ca(directory, common_name='xemu test CA', days=30):
    os.makedirs(directory, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, 'xemu')])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    ca = CA(directory)
    _write(ca.key_path, _key_pem(key), 0o600)
    _write(ca.cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return ca


def _san(name):
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def issue_cert(ca, names, directory, days=30):
    """A server certificate for ``names`` (DNS names or IP addresses) signed by ``ca``."""
    if isinstance(names, str):
        names = [names]
    if not names:
        raise ValueError('at least one name is required')
    os.makedirs(directory, exist_ok=True)
    ca_cert, ca_key = ca.load()
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([_san(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    leaf = Leaf(directory, names)
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    _write(leaf.key_path, _key_pem(key), 0o600)
    _write(leaf.cert_path, cert_pem, 0o644)
    _write(leaf.fullchain_path, cert_pem + ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return leaf
