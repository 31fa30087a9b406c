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
	if g.opts.certFile == "" || g.opts.keyFile == "" {
		return errors.New("wss listener: tls cert and key files are not set")
	}
	cert, err := tls.LoadX509KeyPair(g.opts.certFile, g.opts.keyFile)
	if err != nil {
		return fmt.Errorf("load tls certificate %s: %w", g.opts.certFile, err)
	}
	g.cert.Store(&cert)
	g.log.Info("tls certificate loaded", "cert_file", g.opts.certFile)
	return nil
}

func (g *Gateway) certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return g.cert.Load(), nil
}
