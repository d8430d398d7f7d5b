package generate

import (
	"fmt"
	"time"
)

// customer is one simulated person.
type customer struct {
	n          int
	userID     string // the id once known (identify); always set
	anonID     string // the device's anonymous id
	identified bool   // events carry userId
	persona    *persona
	tz         string
	device     string // "web" or "app": where they browse
	emailOK    bool   // consent to email
	pushOK     bool   // consent to push
	favs       [2]int // favourite categories
	carts      int    // carts opened so far
	cart       *cart  // the open cart, nil when none
	visits     int
	contacts   int // call-centre contacts so far
	lastViewed product
	viewed     bool // lastViewed is set

	steps []step // the rest of the current visit
	next  visit  // a visit to come back for after Away, or nil
	due   time.Time
	order uint64
}

// key is the Kafka record key: userId, else anonymousId.
func (c *customer) key() string {
	if c.identified {
		return c.userID
	}
	return c.anonID
}

// step is one action of a visit. pause is how many Think times the
// customer waits before it (0 counts as 1).
type step struct {
	pause int
	emit  func(g *Generator, c *customer, at time.Time) Message
}

// visit appends a visit's steps to c.steps.
type visit func(g *Generator, c *customer)

// persona weighs the kinds of visit a customer makes, in the order of
// visitKinds.
type persona struct {
	name    string
	share   int // in percent of the customers
	weights [numVisitKinds]int
}

// numVisitKinds is the number of kinds of visit.
const numVisitKinds = 9

// visitKinds are the kinds of visit, in the order of persona.weights.
var visitKinds = [numVisitKinds]visit{browse, shopAndLeave, buy, buyInStore, complain, socialise, readEmail, tapPush, callCentre}

var personas = []*persona{
	{"window_shopper", 25, [numVisitKinds]int{6, 2, 1, 0, 0, 1, 1, 1, 0}},
	{"cart_abandoner", 20, [numVisitKinds]int{2, 6, 1, 0, 0, 0, 1, 1, 0}},
	{"loyal_buyer", 20, [numVisitKinds]int{2, 2, 4, 2, 0, 1, 2, 1, 1}},
	{"unhappy", 10, [numVisitKinds]int{2, 1, 1, 1, 6, 0, 1, 0, 1}},
	{"social_fan", 10, [numVisitKinds]int{2, 1, 1, 0, 0, 6, 1, 1, 0}},
	{"responder", 15, [numVisitKinds]int{2, 1, 1, 0, 0, 0, 5, 3, 3}},
}

func (g *Generator) newCustomer(n int) *customer {
	c := &customer{
		n:      n,
		userID: fmt.Sprintf("cust-%06d", n),
		anonID: fmt.Sprintf("anon-%016x", g.rnd.Uint64()),
		tz:     timeZones[g.rnd.IntN(len(timeZones))],
		device: "web",
	}
	u := g.rnd.IntN(100)
	for _, p := range personas {
		if u < p.share {
			c.persona = p
			break
		}
		u -= p.share
	}
	if c.persona == nil {
		c.persona = personas[len(personas)-1]
	}
	if g.rnd.IntN(5) < 2 {
		c.device = "app"
	}
	c.identified = g.rnd.IntN(10) < 6 // the others are anonymous until they log in
	c.emailOK = g.rnd.IntN(100) < 85
	c.pushOK = c.device == "app" && g.rnd.IntN(100) < 70
	c.favs = [2]int{g.rnd.IntN(len(categories)), g.rnd.IntN(len(categories))}
	return c
}

// pickVisit chooses c's next visit by its persona's weights. A store
// purchase needs a known customer (a loyalty card): an anonymous one
// browses instead.
func (g *Generator) pickVisit(c *customer) visit {
	total := 0
	for _, w := range c.persona.weights {
		total += w
	}
	u := g.rnd.IntN(total)
	for i, w := range c.persona.weights {
		if u < w {
			if i == 3 && !c.identified {
				return browse
			}
			return visitKinds[i]
		}
		u -= w
	}
	return browse
}

// startVisit begins visit v: an anonymous customer on a later visit logs
// in first half of the time (identify, then alias of the anonymous id).
func (g *Generator) startVisit(c *customer, v visit) {
	c.visits++
	if !c.identified && c.visits > 1 && g.rnd.IntN(2) == 0 {
		c.add(0, logIn)
		c.add(0, aliasIDs)
	}
	v(g, c)
}

func (c *customer) add(pause int, emit func(g *Generator, c *customer, at time.Time) Message) {
	c.steps = append(c.steps, step{pause: pause, emit: emit})
}

// pickProduct returns a product: from category cat most of the time.
func (g *Generator) pickProduct(cat int) product {
	if g.rnd.IntN(5) == 0 {
		cat = g.rnd.IntN(len(categories))
	}
	return product{category: cat, n: g.rnd.IntN(productsPerCategory)}
}

// pickCategory returns one of c's favourite categories most of the time.
func (g *Generator) pickCategory(c *customer) int {
	if g.rnd.IntN(4) == 0 {
		return g.rnd.IntN(len(categories))
	}
	return c.favs[g.rnd.IntN(2)]
}

// viewProduct is a Product Viewed on c's device; in the app, one in five
// comes from the app's backend as a structured CloudEvent.
func viewProduct(cat int) func(*Generator, *customer, time.Time) Message {
	return func(g *Generator, c *customer, at time.Time) Message {
		p := g.pickProduct(cat)
		c.lastViewed, c.viewed = p, true
		props := p.properties()
		props["position"] = g.rnd.IntN(24) + 1
		if c.device == "app" && g.rnd.IntN(5) == 0 {
			return g.cloudEvent(c, at, TypeProductViewed, "https://api.shop.example/catalog", "app", props, false)
		}
		return g.track(c, at, c.device, "Product Viewed", props)
	}
}

func landing(name string) func(*Generator, *customer, time.Time) Message {
	return func(g *Generator, c *customer, at time.Time) Message {
		return g.view(c, at, c.device, name, map[string]any{"path": "/" + name, "title": name})
	}
}

// browse: a landing page, three to five products mostly of one category,
// sometimes a like or a share.
func browse(g *Generator, c *customer) {
	cat := g.pickCategory(c)
	c.add(0, landing("Home"))
	for range 3 + g.rnd.IntN(3) {
		c.add(1, viewProduct(cat))
	}
	switch g.rnd.IntN(6) {
	case 0:
		c.add(1, likeProduct(c.device))
	case 1:
		c.add(1, shareProduct(c.device))
	}
}

// shopAndLeave: views, adds to a cart, looks at it, maybe starts the
// checkout, and leaves. Most come back later: through an email to finish
// online, or to buy in a store.
func shopAndLeave(g *Generator, c *customer) {
	cat := g.pickCategory(c)
	for range 1 + g.rnd.IntN(2) {
		c.add(1, viewProduct(cat))
	}
	for range 1 + g.rnd.IntN(2) {
		c.add(1, addToCart)
	}
	c.add(1, viewCart)
	if g.rnd.IntN(5) < 2 {
		c.add(1, startCheckout)
	}
	switch u := g.rnd.IntN(10); {
	case u < 4:
		c.next = comeBackByEmail
	case u < 6 && c.identified:
		c.next = buyInStore
	}
}

// buy: views, adds to a cart, checks out and completes the order; a review
// follows later.
func buy(g *Generator, c *customer) {
	cat := g.pickCategory(c)
	c.add(0, viewProduct(cat))
	c.add(1, addToCart)
	c.add(1, startCheckout)
	c.add(2, completeOrder(c.device, true))
	if g.rnd.IntN(2) == 0 {
		c.next = review
	}
}

// buyInStore: an order at the till, with the loyalty card (the customer is
// known). It closes the customer's open cart, if any.
func buyInStore(g *Generator, c *customer) {
	c.add(0, completeOrder("store", false))
}

// comeBackByEmail: the reminder email is opened and clicked, the order is
// completed on the web.
func comeBackByEmail(g *Generator, c *customer) {
	c.add(0, openEmail)
	c.add(1, clickEmail)
	c.add(1, completeOrder("web", true))
}

// review: a review of what was bought; unhappy customers rate low.
func review(g *Generator, c *customer) {
	c.add(0, reviewProduct)
}

// complain: negative feedback on one channel or another: failed calls to
// the call centre, a complaint, a low survey score or a low rating.
func complain(g *Generator, c *customer) {
	switch g.rnd.IntN(4) {
	case 0:
		for range 3 {
			c.add(2, contactStarted("inbound"))
			c.add(1, contactEnded([]string{"failed", "abandoned"}))
		}
	case 1:
		c.add(0, complaint)
	case 2:
		c.add(0, survey(0, 5))
	default:
		c.add(0, reviewProduct)
	}
}

// socialise: likes, shares and comments on social networks, and a review.
func socialise(g *Generator, c *customer) {
	for range 3 + g.rnd.IntN(4) {
		switch g.rnd.IntN(3) {
		case 0:
			c.add(1, likeProduct("social"))
		case 1:
			c.add(1, shareProduct("social"))
		default:
			c.add(1, comment)
		}
	}
	if g.rnd.IntN(3) == 0 {
		c.add(1, reviewProduct)
	}
}

// readEmail: a campaign email opened, often clicked, then a look at the
// shop on the web. Now and then the customer unsubscribes instead.
func readEmail(g *Generator, c *customer) {
	c.add(0, openEmail)
	if c.emailOK && g.rnd.IntN(30) == 0 {
		c.add(1, unsubscribe)
		return
	}
	if g.rnd.IntN(3) > 0 {
		c.add(1, clickEmail)
		c.add(1, landing("Campaign"))
		c.add(1, viewProduct(c.favs[0]))
	}
}

// tapPush: a push notification reaches the phone, is tapped, the app
// opens on a product. Customers without the app browse instead.
func tapPush(g *Generator, c *customer) {
	if c.device != "app" {
		browse(g, c)
		return
	}
	c.add(0, pushEvent("Push Notification Received"))
	c.add(1, pushEvent("Push Notification Tapped"))
	c.add(0, appOpened)
	c.add(1, viewProduct(c.favs[0]))
}

// callCentre: the call centre calls the customer, who answers; the contact
// is resolved and the customer often answers the satisfaction survey.
func callCentre(g *Generator, c *customer) {
	c.add(0, contactStarted("outbound"))
	c.add(0, callAnswered)
	c.add(3, contactEnded([]string{"resolved"}))
	if g.rnd.IntN(2) == 0 {
		c.add(2, survey(7, 10))
	}
}

func logIn(g *Generator, c *customer, at time.Time) Message {
	c.identified = true
	traits := map[string]any{
		"email":      c.userID + "@example.com",
		"plan":       []string{"free", "silver", "gold"}[c.n%3],
		"created_at": at.Format(timeFormat),
	}
	return g.segment(c, at, "identify", c.device, map[string]any{"traits": traits})
}

func aliasIDs(g *Generator, c *customer, at time.Time) Message {
	return g.segment(c, at, "alias", c.device, map[string]any{"previousId": c.anonID})
}

func addToCart(g *Generator, c *customer, at time.Time) Message {
	if c.cart == nil {
		c.carts++
		c.cart = &cart{id: fmt.Sprintf("cart-%d-%d", c.n, c.carts)}
	}
	p := c.lastViewed
	if g.rnd.IntN(3) == 0 || !c.viewed {
		p = g.pickProduct(g.pickCategory(c))
	}
	it := item{product: p, quantity: 1 + g.rnd.IntN(2)}
	c.cart.items = append(c.cart.items, it)
	props := it.properties()
	props["cart_id"] = c.cart.id
	return g.track(c, at, c.device, "Product Added", props)
}

func viewCart(g *Generator, c *customer, at time.Time) Message {
	props := map[string]any{}
	if c.cart != nil {
		props["cart_id"] = c.cart.id
		props["products"] = c.cart.products()
	}
	return g.track(c, at, c.device, "Cart Viewed", props)
}

func startCheckout(g *Generator, c *customer, at time.Time) Message {
	props := map[string]any{"checkout_id": fmt.Sprintf("co-%d-%d", c.n, c.carts), "currency": "EUR"}
	if c.cart != nil {
		props["cart_id"] = c.cart.id
		props["value"] = c.cart.value()
		props["products"] = c.cart.products()
	}
	return g.track(c, at, c.device, "Checkout Started", props)
}

// completeOrder buys the open cart (online, naming it) or, with no cart,
// one to three products. In a store the cart is not named: journey closes
// the customer's most recent open cart.
func completeOrder(channel string, online bool) func(*Generator, *customer, time.Time) Message {
	return func(g *Generator, c *customer, at time.Time) Message {
		props := map[string]any{"order_id": fmt.Sprintf("ord-%s", g.peekID()), "currency": "EUR"}
		k := c.cart
		if k == nil || !online && g.rnd.IntN(2) == 0 {
			k = &cart{}
			for range 1 + g.rnd.IntN(3) {
				k.items = append(k.items, item{product: g.pickProduct(g.pickCategory(c)), quantity: 1})
			}
		} else if online {
			props["cart_id"] = k.id
		}
		c.cart = nil
		c.lastViewed, c.viewed = k.items[0].product, true
		props["products"] = k.products()
		props["total"] = k.value()
		props["revenue"] = k.value()
		if !online {
			props["affiliation"] = fmt.Sprintf("Store %d", 1+c.n%12)
		}
		return g.track(c, at, channel, "Order Completed", props)
	}
}

// peekID returns the id the next record will have.
func (g *Generator) peekID() string { return fmt.Sprintf("g%d-%d", g.cfg.Seed, g.seq+1) }

func reviewProduct(g *Generator, c *customer, at time.Time) Message {
	rating := 3 + g.rnd.IntN(3)
	if c.persona.name == "unhappy" {
		rating = 1 + g.rnd.IntN(2)
	}
	p := c.lastViewed
	return g.track(c, at, "web", "Product Reviewed", map[string]any{
		"product_id":  p.id(),
		"review_id":   "rev-" + g.peekID(),
		"rating":      rating,
		"review_body": "(synthetic review)",
	})
}

func likeProduct(channel string) func(*Generator, *customer, time.Time) Message {
	return func(g *Generator, c *customer, at time.Time) Message {
		props := g.pickProduct(c.favs[0]).properties()
		if channel == "social" {
			props["network"] = networks[g.rnd.IntN(len(networks))]
		}
		return g.track(c, at, channel, "Product Liked", props)
	}
}

func shareProduct(channel string) func(*Generator, *customer, time.Time) Message {
	return func(g *Generator, c *customer, at time.Time) Message {
		props := g.pickProduct(c.favs[0]).properties()
		props["share_via"] = []string{"link", "message", "email"}[g.rnd.IntN(3)]
		if channel == "social" {
			props["network"] = networks[g.rnd.IntN(len(networks))]
		}
		return g.track(c, at, channel, "Product Shared", props)
	}
}

func comment(g *Generator, c *customer, at time.Time) Message {
	return g.track(c, at, "social", "Comment Posted", map[string]any{
		"comment_id": "cmt-" + g.peekID(),
		"product_id": g.pickProduct(c.favs[0]).id(),
		"network":    networks[g.rnd.IntN(len(networks))],
		"body":       "(synthetic comment)",
	})
}

func complaint(g *Generator, c *customer, at time.Time) Message {
	channel := []string{"email", "call_centre", "web"}[g.rnd.IntN(3)]
	return g.track(c, at, channel, "Complaint Submitted", map[string]any{
		"complaint_id": "cpl-" + g.peekID(),
		"category":     []string{"delivery", "quality", "billing", "service"}[g.rnd.IntN(4)],
		"severity":     []string{"low", "medium", "high"}[g.rnd.IntN(3)],
	})
}

// survey is an NPS survey answered with a score in lo..hi of 10, sent by
// the survey tool as a structured CloudEvent.
func survey(lo, hi int) func(*Generator, *customer, time.Time) Message {
	return func(g *Generator, c *customer, at time.Time) Message {
		return g.cloudEvent(c, at, TypeSurveySubmitted, "https://surveys.shop.example/nps", "survey", map[string]any{
			"survey_id": "nps-q4",
			"type":      "nps",
			"score":     lo + g.rnd.IntN(hi-lo+1),
			"scale":     10,
		}, false)
	}
}

// contactStarted and contactEnded come from the contact-centre platform as
// binary-mode CloudEvents; a contact id pairs them.
func contactStarted(direction string) func(*Generator, *customer, time.Time) Message {
	return func(g *Generator, c *customer, at time.Time) Message {
		c.contacts++
		return g.cloudEvent(c, at, TypeContactStarted, "/contact-centre", "call_centre", map[string]any{
			"contact_id": c.contactID(),
			"medium":     "phone",
			"direction":  direction,
			"queue":      "customer-service",
		}, true)
	}
}

func contactEnded(outcomes []string) func(*Generator, *customer, time.Time) Message {
	return func(g *Generator, c *customer, at time.Time) Message {
		return g.cloudEvent(c, at, TypeContactEnded, "/contact-centre", "call_centre", map[string]any{
			"contact_id": c.contactID(),
			"medium":     "phone",
			"outcome":    outcomes[g.rnd.IntN(len(outcomes))],
			"duration":   30 + g.rnd.IntN(600),
		}, true)
	}
}

// contactID names the customer's current contact: the one the last
// Contact Started began.
func (c *customer) contactID() string { return fmt.Sprintf("ct-%d-%d", c.n, c.contacts) }

func callAnswered(g *Generator, c *customer, at time.Time) Message {
	return g.track(c, at, "call_centre", "Call Answered", map[string]any{
		"contact_id": c.contactID(),
		"agent_id":   fmt.Sprintf("agent-%d", 1+g.rnd.IntN(40)),
		"queue":      "outbound",
		"wait_time":  g.rnd.IntN(20),
	})
}

func email(c *customer) map[string]any {
	campaign := 1 + c.visits%20
	return map[string]any{
		"email_id":      fmt.Sprintf("em-%d-%d", campaign, c.n),
		"campaign_id":   fmt.Sprintf("cmp-%d", campaign),
		"campaign_name": fmt.Sprintf("Weekly picks %d", campaign),
	}
}

func openEmail(g *Generator, c *customer, at time.Time) Message {
	return g.track(c, at, "email", "Email Opened", email(c))
}

func clickEmail(g *Generator, c *customer, at time.Time) Message {
	props := email(c)
	props["link_url"] = fmt.Sprintf("https://shop.example/c/%d", c.favs[0])
	return g.track(c, at, "email", "Email Link Clicked", props)
}

func unsubscribe(g *Generator, c *customer, at time.Time) Message {
	c.emailOK = false
	return g.track(c, at, "email", "Email Unsubscribed", email(c))
}

func pushEvent(name string) func(*Generator, *customer, time.Time) Message {
	return func(g *Generator, c *customer, at time.Time) Message {
		return g.track(c, at, "app", name, map[string]any{
			"campaign_id":   fmt.Sprintf("push-%d", 1+c.visits%10),
			"campaign_name": "Back in stock",
			"message_id":    "msg-" + g.peekID(),
		})
	}
}

func appOpened(g *Generator, c *customer, at time.Time) Message {
	return g.track(c, at, "app", "Application Opened", map[string]any{"from_background": true, "version": "4.2.0", "build": "420"})
}
