// Package workload is the input of the peer benchmark (bench/peers): a
// reproducible stream of Segment Spec events keyed by customer id, and the
// reference fold every implementation under test must agree with.
//
// A Generator is a pure function of its seed and sizes: the same arguments
// give the same events, byte for byte. The bulk stream spreads event times
// over a span with up to 30 s of backward jitter (out-of-order arrivals,
// as mobile clients produce them); the live stream, sent at a fixed rate
// while an implementation runs caught up, has strictly increasing times.
//
// The event mix: 65% Product Viewed (web or app) with a category, 10%
// pages, 8% Product Added, 4% Order Completed (1-3 products, each with a
// category), 5% identify, 8% email opens and clicks. Every customer has
// three favourite categories that get 70% of their views and purchases, so
// category counts reach small thresholds.
package workload

import (
	"math/rand/v2"
	"strconv"
	"time"
)

// Categories are the product categories.
var Categories = [...]string{
	"Footwear/Winter Boots", "Footwear/Sneakers", "Footwear/Sandals", "Outerwear/Parkas", "Outerwear/Rain Jackets",
	"Knitwear/Sweaters", "Tops/T-Shirts", "Tops/Shirts", "Bottoms/Jeans", "Bottoms/Chinos",
	"Dresses", "Accessories/Hats", "Accessories/Scarves", "Accessories/Gloves", "Accessories/Belts",
	"Bags/Backpacks", "Bags/Totes", "Jewellery/Watches", "Jewellery/Rings", "Beauty/Skincare",
	"Beauty/Fragrance", "Home/Bedding", "Home/Kitchen", "Home/Lighting", "Sport/Running",
	"Sport/Yoga", "Sport/Cycling", "Kids/Toys", "Kids/Clothing", "Electronics/Headphones",
}

// Kind is what an event counts as in the per-kind counts: the track
// event's name, or the message type for other calls (journey's profile
// processor counts the same way).
type Kind uint8

// The kinds of the workload.
const (
	ProductViewed Kind = iota
	Page
	ProductAdded
	OrderCompleted
	Identify
	EmailOpened
	EmailLinkClicked
	numKinds
)

var kindNames = [numKinds]string{"Product Viewed", "page", "Product Added", "Order Completed", "identify", "Email Opened",
	"Email Link Clicked"}

func (k Kind) String() string { return kindNames[k] }

// Cumulative shares of the kinds.
var kindShares = [numKinds]float64{0.65, 0.75, 0.83, 0.87, 0.92, 0.97, 1}

// Event is one generated event before encoding.
type Event struct {
	Customer int
	ID       string
	Kind     Kind
	Channel  string
	// At is the event time in Unix milliseconds (the JSON carries
	// milliseconds).
	At int64
	// Category is the category of a view, an added product or a category
	// page; -1 for other kinds.
	Category int
	// Product is the product number within Category.
	Product int
	// Bought are the categories of an order's products (maybe repeated).
	Bought []int
	// Zone is context.timezone; "" is Europe/Paris.
	Zone string
}

// Key is the record key: the customer id.
func (e *Event) Key() string { return CustomerID(e.Customer) }

// CustomerID is the id of customer n: "cust-" and 7 digits.
func CustomerID(n int) string {
	b := make([]byte, 0, 12)
	b = append(b, "cust-"...)
	s := strconv.Itoa(n)
	for range 7 - len(s) {
		b = append(b, '0')
	}
	return string(append(b, s...))
}

const (
	productsPerCategory = 200
	// recent is how many of the latest customers to arrive share 70% of
	// the events that are not a first event (sessions: a customer's events
	// cluster in time); the other 30% go to any customer.
	recent = 2000
	jitter = 30 * time.Second
)

// Generator generates events.
type Generator struct {
	// Zone is every event's Zone (AfternoonZone); "" is Europe/Paris.
	Zone      string
	rnd       *rand.Rand
	customers int
	events    int
	prefix    string
	i         int
	arrived   int
	live      bool
	from      int64   // ms
	step      float64 // ms between events
}

// NewBulk returns the generator of the bulk stream: events events of
// customers customers (each has at least one: they arrive evenly over the
// stream), event times spread from..to (Unix ms) with backward jitter,
// ids "e-1", "e-2"...
func NewBulk(seed uint64, customers, events int, from, to int64) *Generator {
	return &Generator{
		rnd: rand.New(rand.NewPCG(seed, 0x7065657273)), customers: customers, events: events, prefix: "e-",
		from: from, step: float64(to-from) / float64(max(events, 1)),
	}
}

// NewLive returns the generator of a live stream: every customer is known,
// the i-th event (from 0) is at start + i*1000/rate ms, ids "l-1", "l-2"...
func NewLive(seed uint64, customers, rate int, start int64) *Generator {
	return &Generator{
		rnd: rand.New(rand.NewPCG(seed, 0x6c697665)), customers: customers, prefix: "l-",
		arrived: customers, live: true, from: start, step: 1000 / float64(rate),
	}
}

func (g *Generator) customer() int {
	if !g.live && g.arrived < g.customers && g.i*g.customers >= g.arrived*g.events {
		g.arrived++
		return g.arrived - 1
	}
	if g.rnd.IntN(10) < 7 {
		return g.arrived - 1 - g.rnd.IntN(min(recent, g.arrived))
	}
	return g.rnd.IntN(g.arrived)
}

// favourite returns the k-th (0-2) favourite category of customer c.
func favourite(c, k int) int {
	h := uint64(c)*0x9E3779B97F4A7C15 + 0xD1B54A32D192ED03
	h ^= h >> 31
	h *= 0x94D049BB133111EB
	h ^= h >> 29
	return int((h >> (uint(k) * 20)) % uint64(len(Categories)))
}

func (g *Generator) category(c int) int {
	if g.rnd.IntN(10) < 7 {
		return favourite(c, g.rnd.IntN(3))
	}
	return g.rnd.IntN(len(Categories))
}

// Next returns the next event.
func (g *Generator) Next() Event {
	e := Event{Customer: g.customer(), Category: -1, Zone: g.Zone}
	e.At = g.from + int64(float64(g.i)*g.step)
	if !g.live {
		e.At -= g.rnd.Int64N(int64(jitter / time.Millisecond))
	}
	g.i++
	e.ID = g.prefix + strconv.Itoa(g.i)
	e.Channel = "web"
	if g.rnd.IntN(5) < 2 {
		e.Channel = "app"
	}
	u := g.rnd.Float64()
	for e.Kind = 0; u >= kindShares[e.Kind]; e.Kind++ {
	}
	switch e.Kind {
	case ProductViewed, ProductAdded:
		e.Category, e.Product = g.category(e.Customer), g.rnd.IntN(productsPerCategory)
	case Page:
		e.Channel, e.Category = "web", g.category(e.Customer)
	case OrderCompleted:
		for range 1 + g.rnd.IntN(3) {
			e.Bought = append(e.Bought, g.category(e.Customer))
		}
		e.Product = g.rnd.IntN(productsPerCategory)
	case EmailOpened, EmailLinkClicked:
		e.Channel, e.Product = "email", g.rnd.IntN(40) // the campaign
	}
	return e
}

const userAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"

var brands = [...]string{"Northway", "Fjellstad", "Camber", "Oakridge", "Lumen", "Tidewater", "Parsec", "Hollis"}

// AppendJSON appends the Segment Spec message of e to b.
func AppendJSON(b []byte, e *Event) []byte {
	key := e.Key()
	b = append(b, `{"type":"`...)
	switch e.Kind {
	case Page:
		b = append(b, `page","name":"Category`...)
	case Identify:
		b = append(b, `identify`...)
	default:
		b = append(b, `track","event":"`...)
		b = append(b, e.Kind.String()...)
	}
	b = append(b, `","messageId":"`...)
	b = append(b, e.ID...)
	b = append(b, `","userId":"`...)
	b = append(b, key...)
	b = append(b, `","anonymousId":"anon-`...)
	b = append(b, key[5:]...)
	b = append(b, `","timestamp":"`...)
	b = time.UnixMilli(e.At).UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, `",`...)
	switch e.Kind {
	case ProductViewed:
		b = append(b, `"properties":{"product_id":"`...)
		b = appendSKU(b, e.Category, e.Product)
		b = append(b, `","category":"`...)
		b = append(b, Categories[e.Category]...)
		b = append(b, `","name":"Product `...)
		b = strconv.AppendInt(b, int64(e.Product), 10)
		b = append(b, `","brand":"`...)
		b = append(b, brands[(e.Category+e.Product)%len(brands)]...)
		b = append(b, `","price":`...)
		b = appendPrice(b, e.Category, e.Product)
		b = append(b, `,"currency":"EUR","url":"https://shop.example/p/`...)
		b = appendSKU(b, e.Category, e.Product)
		b = append(b, `"},`...)
		b = appendContext(b, e.Channel, e.Zone, "/p/", e.Category, e.Product)
	case ProductAdded:
		b = append(b, `"properties":{"cart_id":"cart-`...)
		b = append(b, key[5:]...)
		b = append(b, `","product_id":"`...)
		b = appendSKU(b, e.Category, e.Product)
		b = append(b, `","category":"`...)
		b = append(b, Categories[e.Category]...)
		b = append(b, `","price":`...)
		b = appendPrice(b, e.Category, e.Product)
		b = append(b, `,"quantity":1,"currency":"EUR"},`...)
		b = appendContext(b, e.Channel, e.Zone, "/p/", e.Category, e.Product)
	case Page:
		b = append(b, `"properties":{"path":"/c/`...)
		b = strconv.AppendInt(b, int64(e.Category), 10)
		b = append(b, `","title":"`...)
		b = append(b, Categories[e.Category]...)
		b = append(b, `","url":"https://shop.example/c/`...)
		b = strconv.AppendInt(b, int64(e.Category), 10)
		b = append(b, `"},`...)
		b = appendContext(b, e.Channel, e.Zone, "/c/", e.Category, -1)
	case OrderCompleted:
		b = append(b, `"properties":{"order_id":"ord-`...)
		b = append(b, e.ID...)
		b = append(b, `","currency":"EUR","products":[`...)
		total := 0
		for i, c := range e.Bought {
			if i > 0 {
				b = append(b, ',')
			}
			n := (e.Product + 37*i) % productsPerCategory
			b = append(b, `{"product_id":"`...)
			b = appendSKU(b, c, n)
			b = append(b, `","category":"`...)
			b = append(b, Categories[c]...)
			b = append(b, `","price":`...)
			b = appendPrice(b, c, n)
			b = append(b, `,"quantity":1}`...)
			total += 10 + (c*37+n*13)%300
		}
		b = append(b, `],"total":`...)
		b = strconv.AppendInt(b, int64(total), 10)
		b = append(b, `},`...)
		b = appendContext(b, e.Channel, e.Zone, "/checkout/", -1, -1)
	case Identify:
		b = append(b, `"traits":{"plan":"`...)
		b = append(b, [...]string{"free", "silver", "gold"}[e.Customer%3]...)
		b = append(b, `"},`...)
		b = appendContext(b, e.Channel, e.Zone, "/account/", -1, -1)
	case EmailOpened, EmailLinkClicked:
		b = append(b, `"properties":{"email_id":"em-`...)
		b = strconv.AppendInt(b, int64(e.Product), 10)
		b = append(b, '-')
		b = append(b, key[5:]...)
		b = append(b, `","campaign_id":"cmp-`...)
		b = strconv.AppendInt(b, int64(e.Product), 10)
		b = append(b, `"},"context":{"channel":"email"`...)
	}
	return append(b, `}}`...)
}

// AfternoonZone returns a fixed-offset zone (Etc/GMT±N) in which now is
// 15:MM local: a workload dated by the wall clock (the four hours before
// now, then live events) and placed in it keeps its customers out of the
// contact policy's quiet hours (21:00 to 08:00 by default) whatever the
// hour of the run. bench/e2e's workloadClock says why not a fixed date.
func AfternoonZone(now time.Time) string {
	off := 15 - now.UTC().Hour() // -8..15 hours east of UTC
	if off > 14 {
		off -= 24
	}
	switch {
	case off > 0:
		return "Etc/GMT-" + strconv.Itoa(off) // POSIX signs: Etc/GMT-2 is UTC+2
	case off < 0:
		return "Etc/GMT+" + strconv.Itoa(-off)
	}
	return "Etc/GMT"
}

// appendContext appends the context object less its closing brace.
func appendContext(b []byte, channel, zone, path string, c, n int) []byte {
	if zone == "" {
		zone = "Europe/Paris"
	}
	b = append(b, `"context":{"channel":"`...)
	b = append(b, channel...)
	b = append(b, `","timezone":"`...)
	b = append(b, zone...)
	b = append(b, `","locale":"fr-FR","page":{"path":"`...)
	b = append(b, path...)
	switch {
	case n >= 0:
		b = appendSKU(b, c, n)
	case c >= 0:
		b = strconv.AppendInt(b, int64(c), 10)
	}
	b = append(b, `"},"userAgent":"`...)
	b = append(b, userAgent...)
	return append(b, '"')
}

func appendSKU(b []byte, c, n int) []byte {
	b = append(b, "sku-"...)
	b = strconv.AppendInt(b, int64(c), 10)
	b = append(b, '-')
	return strconv.AppendInt(b, int64(n), 10)
}

func appendPrice(b []byte, c, n int) []byte {
	return strconv.AppendFloat(b, float64(9+(c*37+n*13)%300)+0.9, 'f', 2, 64)
}
