package gateway

import (
	"crypto/tls"
	"errors"
	"fmt"
)

// ReloadTLS reads the certificate and key files again. Connections keep
// their sessions; new handshakes use the new certificate. The stock binary
// calls it on SIGHUP and "reload".
func (g *Gateway) ReloadTLS() error {
	if g.opts.TLS.CertFile == "" || g.opts.TLS.KeyFile == "" {
		return errors.New("wss listener: tls cert and key files are not set")
	}
	cert, err := tls.LoadX509KeyPair(g.opts.TLS.CertFile, g.opts.TLS.KeyFile)
	if err != nil {
		return fmt.Errorf("load tls certificate %s: %w", g.opts.TLS.CertFile, err)
	}
	g.cert.Store(&cert)
	g.log.Info("tls certificate loaded", "cert_file", g.opts.TLS.CertFile)
	return nil
}

func (g *Gateway) certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return g.cert.Load(), nil
}
