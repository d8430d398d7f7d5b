package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Any instance answers for any customer (README, "Looking at one
// customer"): a customer's state lives on the instance active for its
// partition, so a request for a customer of a partition another instance
// owns is proxied to that instance's API, found through the consumer
// group (Cluster.Owner). A linked id on one partition whose customer lives
// on another takes a second hop. While the partition is restoring, or no
// member owns it (a rebalance), the answer is 503 with Retry-After.

// Cluster is the API's view of the consumer group.
type Cluster interface {
	// Partition is the partition an id's state lives on; ok is false
	// while the partition count is not known yet (before the first join).
	Partition(id string) (p int, ok bool)
	// Local reports whether this instance is active for partition p, and
	// then the partition's state ("ready", "stalled", "restoring",
	// "failed").
	Local(p int) (state string, ok bool)
	// Owner returns the API address (host:port) of the instance active
	// for p, or an error when none is now.
	Owner(ctx context.Context, p int) (string, error)
}

// Proxy headers: a request one instance sends another.
const (
	// headerHops counts the proxy hops a request took: a request that
	// has taken maxProxyHops is answered 503, not sent on (a loop while
	// instances disagree about who owns what).
	headerHops = "X-Journey-Hops"
	// headerStored marks an id in the path as the form the store keeps it
	// in (a pseudonym already): it is not hashed again.
	headerStored = "X-Journey-Stored-Id"
)

// maxProxyHops bounds a request's proxy hops: the owner of the id, then
// the owner of its customer.
const maxProxyHops = 3

// retryAfter is the Retry-After of a 503: a restore or rebalance in
// progress.
const retryAfter = "1"

// SetCluster makes the API answer for every customer of the group,
// proxying with client to the instance that owns one (before serving).
// scheme is "http" or "https", as the instances serve the API.
func (h *Handler) SetCluster(c Cluster, client *http.Client, scheme string) {
	h.cluster, h.proxyClient, h.scheme = c, client, scheme
}

// unavailable answers 503 with Retry-After.
func unavailable(w http.ResponseWriter, msg string) int {
	w.Header().Set("Retry-After", retryAfter)
	return writeError(w, http.StatusServiceUnavailable, msg)
}

// routeCustomer decides where GET /v1/customers/{id} for the stored id is
// answered: here (done false), or it answered already — from another
// instance, or 503.
func (h *Handler) routeCustomer(w http.ResponseWriter, r *http.Request, requested, stored string) (code int, done bool) {
	p, ok := h.cluster.Partition(stored)
	if !ok {
		return unavailable(w, "the instance has not joined its consumer group yet"), true
	}
	if st, local := h.cluster.Local(p); local {
		if st == "restoring" {
			return unavailable(w, fmt.Sprintf("partition %d is restoring its state", p)), true
		}
		return 0, false
	}
	return h.proxy(w, r, requested, stored, p), true
}

// proxy asks the owner of partition p for the stored id's customer and
// answers with its answer, requested_id set to what the client asked for.
func (h *Handler) proxy(w http.ResponseWriter, r *http.Request, requested, stored string, p int) int {
	hops, _ := strconv.Atoi(r.Header.Get(headerHops))
	if hops >= maxProxyHops {
		return unavailable(w, "the instances disagree about who owns the customer's partition (a rebalance?)")
	}
	addr, err := h.cluster.Owner(r.Context(), p)
	if err != nil {
		return unavailable(w, fmt.Sprintf("no instance answers for partition %d now (a rebalance?)", p))
	}
	u := url.URL{Scheme: h.scheme, Host: addr, Path: "/v1/customers/" + stored, RawQuery: r.URL.RawQuery}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return writeError(w, http.StatusInternalServerError, "building the proxied request failed")
	}
	if a := r.Header.Get("Authorization"); a != "" {
		req.Header.Set("Authorization", a)
	}
	req.Header.Set(headerHops, strconv.Itoa(hops+1))
	req.Header.Set(headerStored, "1")
	resp, err := h.proxyClient.Do(req)
	if err != nil {
		return unavailable(w, fmt.Sprintf("the instance that owns partition %d did not answer", p))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return unavailable(w, fmt.Sprintf("the instance that owns partition %d did not answer in full", p))
	}
	if resp.StatusCode == http.StatusOK {
		var c Customer
		d := json.NewDecoder(bytes.NewReader(body))
		d.DisallowUnknownFields()
		if err := d.Decode(&c); err != nil {
			return writeError(w, http.StatusBadGateway, "the owning instance's answer is not a customer")
		}
		c.RequestedID = requested
		return writeJSON(w, http.StatusOK, &c)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		w.Header().Set("Retry-After", ra)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
	return resp.StatusCode
}

// errElsewhere is Customer's error when the id is linked to a customer
// whose partition this instance does not own.
type errElsewhere struct{ canonical string }

func (e *errElsewhere) Error() string { return "api: the customer lives on another instance" }

// isElsewhere returns the canonical id of an errElsewhere.
func isElsewhere(err error) (string, bool) {
	var e *errElsewhere
	if errors.As(err, &e) {
		return e.canonical, true
	}
	return "", false
}
