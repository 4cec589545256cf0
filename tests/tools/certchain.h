/* certchain: certificates for the tests of the certificate checks (tests/unit/test_tls, tests/tools/loadgen
 * --chain): a certificate issued by a named issuer, and chains of them. Header-only, like target.h. */
#pragma once
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>

/* A certificate for pub, named CN=subj (plus n_pad OU entries of 60 characters, to make it large), issued by
 * CN=issuer and signed with signer (Ed25519 or any key OpenSSL signs with SHA-256). NULL on failure. */
static inline X509 *cert_issue(EVP_PKEY *pub, const char *subj, const char *issuer, EVP_PKEY *signer,
			       unsigned n_pad)
{
	static const char pad[] = "padding-padding-padding-padding-padding-padding-padding-pad";
	X509 *x = X509_new();
	X509_NAME *sn = X509_NAME_new(), *in = X509_NAME_new();
	bool ok = x && sn && in && X509_set_version(x, 2) && ASN1_INTEGER_set(X509_get_serialNumber(x), 1) &&
		  X509_gmtime_adj(X509_getm_notBefore(x), -3600) && X509_gmtime_adj(X509_getm_notAfter(x), 86400) &&
		  X509_set_pubkey(x, pub) &&
		  X509_NAME_add_entry_by_txt(sn, "CN", MBSTRING_ASC, (const unsigned char *)subj, -1, -1, 0) &&
		  X509_NAME_add_entry_by_txt(in, "CN", MBSTRING_ASC, (const unsigned char *)issuer, -1, -1, 0);

	for (unsigned i = 0; ok && i < n_pad; i++)
		ok = X509_NAME_add_entry_by_txt(sn, "OU", MBSTRING_ASC, (const unsigned char *)pad, -1, -1, 0);
	ok = ok && X509_set_subject_name(x, sn) && X509_set_issuer_name(x, in) &&
	     X509_sign(x, signer, EVP_PKEY_get_id(signer) == EVP_PKEY_ED25519 ? NULL : EVP_sha256());
	X509_NAME_free(sn);
	X509_NAME_free(in);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}
