package generate

import (
	"fmt"
	"math"
)

// categories are the product categories of the simulated shop.
var categories = [...]string{
	"Footwear/Winter Boots", "Footwear/Sneakers", "Outerwear/Parkas", "Outerwear/Rain Jackets",
	"Knitwear/Sweaters", "Bottoms/Jeans", "Accessories/Hats", "Accessories/Scarves",
	"Bags/Backpacks", "Beauty/Skincare", "Home/Kitchen", "Sport/Running",
	"Electronics/Headphones", "Kids/Toys",
}

// productsPerCategory is the number of products in each category.
const productsPerCategory = 40

var brands = [...]string{"Northway", "Fjellstad", "Camber", "Oakridge", "Lumen", "Tidewater", "Parsec", "Hollis"}

// timeZones are the customers' IANA time zones, around the world.
var timeZones = [...]string{
	"Europe/Paris", "Europe/London", "Europe/Berlin", "America/New_York", "America/Chicago",
	"America/Los_Angeles", "America/Sao_Paulo", "Asia/Tokyo", "Asia/Kolkata", "Australia/Sydney",
}

// networks are the social networks shares and comments happen on.
var networks = [...]string{"instagram", "facebook", "tiktok", "pinterest"}

// product is one item of the catalogue.
type product struct {
	category int
	n        int
}

func (p product) id() string { return fmt.Sprintf("sku-%d-%d", p.category, p.n) }

func (p product) price() float64 {
	return math.Round((9+float64((p.category*37+p.n*13)%300))*100)/100 + 0.9
}

// properties are the Segment e-commerce v2 product properties.
func (p product) properties() map[string]any {
	return map[string]any{
		"product_id": p.id(),
		"sku":        p.id(),
		"category":   categories[p.category],
		"name":       fmt.Sprintf("%s %d", brands[(p.category+p.n)%len(brands)], p.n),
		"brand":      brands[(p.category+p.n)%len(brands)],
		"price":      p.price(),
		"currency":   "EUR",
		"url":        "https://shop.example/p/" + p.id(),
	}
}

// item is a product in a cart.
type item struct {
	product
	quantity int
}

func (it item) properties() map[string]any {
	m := it.product.properties()
	m["quantity"] = it.quantity
	return m
}

// cart is a customer's open cart.
type cart struct {
	id    string
	items []item
}

func (c *cart) value() float64 {
	v := 0.0
	for _, it := range c.items {
		v += it.price() * float64(it.quantity)
	}
	return math.Round(v*100) / 100
}

func (c *cart) products() []any {
	ps := make([]any, len(c.items))
	for i, it := range c.items {
		ps[i] = it.properties()
	}
	return ps
}
