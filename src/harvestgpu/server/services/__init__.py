"""Domain logic. Services own queries and commits; routers only call them."""
