"use client";

export default function Page() {
  return <h1>runs/detail</h1>;
}
